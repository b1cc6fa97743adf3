// How this page is served, as the server says (<script type="application/json"
// id="fer-site">): by the app ({static: false}), or as files on any static host
// (main.py --export-static: {static: true}, no server to ask, everything in the page).
export const SITE = JSON.parse(document.getElementById("fer-site").textContent);
