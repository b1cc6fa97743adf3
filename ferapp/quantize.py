"""``python -m ferapp.quantize`` as before the package had layers: the same command as
``python -m ferapp.learning.quantize`` (write model.int8.onnx beside an export's model.onnx)."""

import sys

from ferapp.learning.quantize import main

if __name__ == "__main__":
    sys.exit(main())
