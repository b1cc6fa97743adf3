"""Training and scoring the expression CNN: networks (and their specs by name), FER-2013
and FER+ data, targets and augmentation, callbacks, class bias, weight averaging, metrics
and evaluation, export and int8 quantisation; trainer runs a training from start to
export."""
