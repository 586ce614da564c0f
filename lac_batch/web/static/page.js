// The drop zone: a dropped file goes into the file input, and the form is sent as if chosen.
(function () {
  "use strict";
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("file-input");
  var form = document.getElementById("open-form");
  if (!zone || !input || !form) { return; }
  zone.addEventListener("dragover", function (event) {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      htmx.trigger(form, "submit");
    }
  });
  input.addEventListener("change", function () {
    if (input.files && input.files.length) { htmx.trigger(form, "submit"); }
  });
})();
