// The draw-a-digit page: draw on #pad, post the drawing (a PNG) to /predict as the server's upload
// endpoint expects, and show the 28x28 image the server prepared and the model's top three digits.
// At most one request is in flight; strokes made meanwhile are sent when it returns, so the answer
// follows the drawing without queueing a request per mouse move. The answer panel is aria-busy
// from the first stroke not yet answered until the answer to the last one is shown.
// When the server collects (`serve --collect DIR`, which marks <body data-collect="on">), the answer
// gets a "Right / it is a ..." control: it posts the image that answer was for, with the label the
// person gives, to /feedback, and says what the server saved.
"use strict";

const pad = document.getElementById("pad");
const preview = document.getElementById("preview");
const ink = pad.getContext("2d");
const prediction = document.getElementById("prediction");
const verdict = document.getElementById("verdict");
const ranking = document.getElementById("top");
const error = document.getElementById("error");
const upload = document.getElementById("upload");
const answerPanel = document.getElementById("answer");
const feedback = document.getElementById("feedback");
const saved = document.getElementById("saved");
const collecting = document.body.dataset.collect === "on";
let shown = null; // {blob, name, digit} of the answer on screen: what feedback saves

const STROKE = 22; // pixels on the 280-pixel pad: MNIST's 2-3 pixel stroke once a digit ~200 pixels tall is scaled to 20 of 28
let drawing = false;
let hasInk = false;
let inFlight = false;
let dirty = false;
let latest = 0; // the number of the last request sent (or clear): only its answer is shown
let waiting = false; // a blob is being encoded for a request not yet sent

function busy() {
  answerPanel.setAttribute("aria-busy", String(waiting || inFlight || dirty));
}

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
  dirty = false; // strokes of the cleared drawing are not sent ...
  latest++; // ... and an answer still on its way for it is not shown
  busy();
  prediction.textContent = "";
  verdict.hidden = true;
  ranking.replaceChildren();
  shown = null;
  feedback.hidden = true;
  saved.textContent = "";
  preview.getContext("2d").clearRect(0, 0, preview.width, preview.height);
  showError(null);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  ink.strokeStyle = "#000";
  ink.lineWidth = STROKE;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(x, y);
  ink.lineTo(x, y); // a click alone leaves a dot
  ink.stroke();
  hasInk = true;
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ink.lineTo(x, y);
  ink.stroke();
  requestPrediction();
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    requestPrediction();
  });
}

document.getElementById("clear").addEventListener("click", clearPad);

upload.addEventListener("change", () => {
  const file = upload.files[0];
  if (file) send(file, file.name);
  upload.value = ""; // the same file chosen again still fires "change"
});

function requestPrediction() {
  if (!hasInk) return;
  if (inFlight || waiting) {
    dirty = true;
    busy();
    return;
  }
  waiting = true;
  busy();
  pad.toBlob((blob) => {
    waiting = false;
    send(blob, "drawing.png");
  }, "image/png");
}

async function send(blob, name) {
  const number = ++latest;
  inFlight = true;
  dirty = false;
  busy();
  const form = new FormData();
  form.append("files", blob, name);
  try {
    const response = await fetch("/predict", { method: "POST", body: form });
    const answer = await response.json().catch(() => ({ error: `the server answered ${response.status} without JSON` }));
    if (number !== latest) return; // a later request (an upload while drawing, say) has the say
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    show(answer.predictions[0]);
    shown = { blob, name, digit: answer.predictions[0].digit };
    feedback.hidden = !collecting;
    saved.textContent = "";
    showError(null);
  } catch (failure) {
    if (number === latest) showError(failure.message);
  } finally {
    inFlight = false;
    if (dirty) requestPrediction();
    busy();
  }
}

function show(result) {
  const pixels = preview.getContext("2d").createImageData(28, 28);
  result.prepared.flat().forEach((value, index) => {
    pixels.data.set([value, value, value, 255], index * 4);
  });
  preview.getContext("2d").putImageData(pixels, 0, 0);
  prediction.textContent = String(result.digit);
  verdict.hidden = result.unsure !== true;
  ranking.replaceChildren(...result.top.map(({ digit, probability }) => {
    const row = document.createElement("li");
    const percent = `${(probability * 100).toFixed(1)}%`;
    row.innerHTML = `<b></b><span class="bar"><span></span></span><span></span>`;
    row.children[0].textContent = String(digit);
    row.children[1].firstChild.style.width = percent;
    row.children[2].textContent = percent;
    return row;
  }));
}

async function saveLabel(label) {
  if (!shown) return;
  const form = new FormData();
  form.append("label", String(label));
  form.append("file", shown.blob, shown.name);
  saved.textContent = "Saving...";
  try {
    const response = await fetch("/feedback", { method: "POST", body: form });
    const answer = await response.json().catch(() => ({ error: `the server answered ${response.status} without JSON` }));
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    saved.textContent = answer.new ? `Saved as a ${answer.label}.` : `Already saved (as a ${answer.label} or otherwise).`;
    showError(null);
  } catch (failure) {
    saved.textContent = "";
    showError(failure.message);
  }
}

document.getElementById("right").addEventListener("click", () => shown && saveLabel(shown.digit));
const digits = document.getElementById("digits");
for (let digit = 0; digit <= 9; digit++) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = String(digit);
  button.setAttribute("aria-label", `it is a ${digit}`);
  button.addEventListener("click", () => saveLabel(digit));
  digits.append(button);
}

function showError(message) {
  error.hidden = !message;
  error.textContent = message ? `Error: ${message}` : "";
}

clearPad();
