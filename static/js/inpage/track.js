// ferapp/vision/tracking.py in the page: one id per person by greedy box overlap with recent
// faces, scores averaged over the last smooth_s seconds, faces held through short misses.
import { iou } from "./centerface.js";

export class FaceTracker {
  constructor({ min_iou: minIou, max_gap: maxGap, smooth_s: smoothS }, labels) {
    Object.assign(this, { minIou, maxGap, smoothS, labels });
    this.tracks = new Map();  // id -> {box, seen, history: [[t, scores]], result}
    this.nextId = 0;
  }

  // results: [{box, scores: [p per label]}] -> [{id, box, emotion, confidence, scores}]
  update(frameNo, results, t) {
    for (const [id, tr] of this.tracks) if (frameNo - tr.seen > this.maxGap) this.tracks.delete(id);
    const pairs = [];
    results.forEach((r, k) => {
      for (const [id, tr] of this.tracks) pairs.push([iou(r.box, tr.box), k, id]);
    });
    // as Python sorts the tuples, largest first
    pairs.sort((p, q) => (q[0] - p[0]) || (q[1] - p[1]) || (q[2] - p[2]));
    const assigned = new Map();
    const used = new Set();
    for (const [overlap, k, id] of pairs) {
      if (overlap < this.minIou) break;
      if (!assigned.has(k) && !used.has(id)) {
        assigned.set(k, id);
        used.add(id);
      }
    }
    return results.map((r, k) => {
      if (!assigned.has(k)) {
        assigned.set(k, this.nextId);
        this.tracks.set(this.nextId, { history: [] });
        this.nextId += 1;
      }
      const id = assigned.get(k);
      const track = this.tracks.get(id);
      track.history.push([t, r.scores]);
      while (track.history.length && track.history[0][0] < t - this.smoothS - 1e-9) track.history.shift();
      const mean = this.labels.map((_, j) => track.history.reduce((sum, [, s]) => sum + s[j], 0)
        / track.history.length);
      const smoothed = faceResult(id, r.box, mean, this.labels);
      Object.assign(track, { box: r.box, seen: frameNo, result: smoothed });
      return smoothed;
    });
  }

  held(frameNo, hold) {
    return [...this.tracks.entries()].sort((p, q) => p[0] - q[0])
      .filter(([, tr]) => frameNo - tr.seen > 0 && frameNo - tr.seen <= hold && tr.result)
      .map(([, tr]) => tr.result);
  }
}

// FaceResult.to_dict: the first label of the highest score, values rounded to 4 places
export function faceResult(id, box, scores, labels) {
  let top = 0;
  scores.forEach((s, j) => { if (s > scores[top]) top = j; });
  const round4 = (v) => Math.round(v * 1e4) / 1e4;
  return { id, box: [...box], emotion: labels[top], confidence: round4(scores[top]),
    scores: Object.fromEntries(labels.map((e, j) => [e, round4(scores[j])])) };
}
