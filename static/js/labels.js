// The labels as the server defines them (ferapp.labels, handed over in the page's
// <script type="application/json" id="fer-labels">): never re-typed here.
const labels = JSON.parse(document.getElementById("fer-labels").textContent);

export const EMOTIONS = labels.emotions;   // the canonical order
export const COLORS = labels.colors;       // emotion -> CSS colour, as the stream draws them
export const COLUMNS = labels.columns;     // analyze.py's faces.csv columns
export const TIMELINE_S = labels.timeline_s;
