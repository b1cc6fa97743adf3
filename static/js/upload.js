// "Analyse a photo": one request gives the scores and the annotated picture; on a page
// with no server (main.py --export-static) the page analyses it itself, in its worker.
import { inPageSettings } from "./camera.js";
import { drawBoxes } from "./draw.js";
import { renderFaces } from "./faces.js";
import { analyzeFrame, missingSupport, startWorker } from "./inbrowser.js";
import { SITE } from "./site.js";
import { $ } from "./util.js";

let photoWorker = null;

// the photo's faces found and classified in this page, and the photo drawn with them
async function analyzeHere(file) {
  const why = missingSupport();
  if (why) throw new Error(why);
  if (!photoWorker) photoWorker = await startWorker(await inPageSettings());
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (err) {
    throw new Error("this browser cannot decode this file (a JPEG, PNG or WebP works)");
  }
  const { width, height } = bitmap;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  const result = await analyzeFrame(photoWorker, bitmap, null, Date.now());
  drawBoxes(canvas.getContext("2d"), result.faces, 1, 1);
  return { ...result, picture: canvas.toDataURL("image/jpeg", 0.9) };
}

export async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const message = $("upload-message");
  const image = $("upload-image");
  if (!file) return;
  // the server refuses a larger body on its headers and closes the connection (the
  // browser would only say "failed to fetch"): say it here, without sending the file
  const max = Number($("upload-form").dataset.maxBytes);
  if (!SITE.static && max && file.size + 1024 > max) {
    message.className = "error";
    message.textContent = `This file is ${(file.size / 1048576).toFixed(1)} MB: the server ` +
      `takes photos up to ${(max / 1048576).toFixed(0)} MB. Send a smaller or more ` +
      "compressed copy (a JPEG is smallest).";
    return;
  }
  message.className = "";
  message.textContent = "Analysing…";
  if (SITE.static) {
    try {
      const result = await analyzeHere(file);
      image.src = result.picture;
      image.hidden = false;
      message.textContent = `${result.faces.length} face(s) in ${result.width}×${result.height}` +
        " (analysed in this browser)";
      renderFaces($("upload-faces"), result.faces);
    } catch (err) {
      message.className = "error";
      message.textContent = `Could not analyse this file: ${err.message}`;
    }
    return;
  }
  const body = new FormData();
  body.append("image", file);
  try {
    // one request: the scores and the annotated picture (drawn by the server, so every
    // format works, HEIC and TIFF included, and boxes match the upright photo)
    const response = await fetch("/api/predict?image=1", { method: "POST", body });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || `HTTP ${response.status}`);
    image.src = `data:image/jpeg;base64,${result.annotated_jpeg}`;
    image.hidden = false;
    message.textContent = `${result.faces.length} face(s) in ${result.width}×${result.height}`;
    renderFaces($("upload-faces"), result.faces);
  } catch (err) {
    message.className = "error";
    message.textContent = `Could not analyse this file: ${err.message}`;
  }
}
