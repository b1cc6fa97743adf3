// "Analyse a photo": one request gives the scores and the annotated picture.
import { renderFaces } from "./faces.js";
import { $ } from "./util.js";

export async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const message = $("upload-message");
  const image = $("upload-image");
  if (!file) return;
  // the server refuses a larger body on its headers and closes the connection (the
  // browser would only say "failed to fetch"): say it here, without sending the file
  const max = Number($("upload-form").dataset.maxBytes);
  if (max && file.size + 1024 > max) {
    message.className = "error";
    message.textContent = `This file is ${(file.size / 1048576).toFixed(1)} MB: the server ` +
      `takes photos up to ${(max / 1048576).toFixed(0)} MB. Send a smaller or more ` +
      "compressed copy (a JPEG is smallest).";
    return;
  }
  message.className = "";
  message.textContent = "Analysing…";
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
