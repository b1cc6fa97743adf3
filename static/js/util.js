// Small helpers every module of the page uses.
export const $ = (id) => document.getElementById(id);

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
