// Runs the page's DOM-free live-step modules (static/js/inpage/) on inputs a Python test
// wrote, and writes what they give, for tests/vision/test_inpage_parity.py to compare with
// the server's own functions.   node tests/js/inpage_pure.mjs IN.json OUT.json
import { readFileSync, writeFileSync } from "node:fs";

import { cropFaces } from "../../static/js/inpage/crop.js";
import { decode, detectorInput, finish, nms, scaled } from "../../static/js/inpage/centerface.js";
import { grayFromRGBA, resizeArea } from "../../static/js/inpage/imaging.js";
import { FaceTracker } from "../../static/js/inpage/track.js";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const bytes = (b64) => new Uint8Array(Buffer.from(b64, "base64"));
const floats = (b64) => new Float32Array(bytes(b64).buffer);
const b64 = (array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString("base64");

const { w, h, detector: det, crop } = input;
const rgba = bytes(input.rgba);
const blob = detectorInput(rgba, w, h, det);
const [heat, scales, offsets, landmarks] = input.outputs.map(floats);
const faces = finish(nms(decode(heat, scales, offsets, landmarks, blob.H / 4, blob.W / 4, det.threshold)
  .map((d) => scaled(d, 1 / blob.scale)), det.nms_iou, det.nms_contained), w, h, det.min_face);
const gray = grayFromRGBA(rgba, w, h);
const crops = cropFaces(gray, w, h, input.faces, crop.size, crop.margin, crop.align);
const shrunk = resizeArea(bytes(input.area.src), input.area.w, input.area.h, 1, input.area.dw, input.area.dh);
const tracker = new FaceTracker(input.tracking, input.labels);
const tracked = input.sequence.map(({ frame, t, results }) => tracker.update(frame, results, t)
  .concat(tracker.held(frame, input.tracking.hold)));
writeFileSync(process.argv[3], JSON.stringify({
  blob: b64(blob.data), H: blob.H, W: blob.W, faces, gray: b64(gray),
  crops: crops.map(b64), shrunk: b64(shrunk), tracked }));
