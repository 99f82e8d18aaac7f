/* Drag and drop on the pipeline board (templates/pipeline/_board.html).
 *
 * A progressive extra: every card also moves with its arrow buttons, which work without
 * JavaScript. A drop posts the same move as the buttons through htmx, whose hx-headers on
 * <body> carry the CSRF token; the server answers with the two columns the move touched
 * (swapped in out of band), so both and their totals are redrawn from the database, or
 * with the whole board and the reason when the move was refused. Only ids and URLs from
 * data attributes are read here, never user text. Listeners sit on the document so they
 * keep working after htmx swaps the columns.
 */
(function () {
  "use strict";

  var dragged = null;

  function columnOf(element) {
    return element && element.closest ? element.closest(".board-column[data-stage-id]") : null;
  }

  function clearTargets() {
    document.querySelectorAll(".board-column.drop-target").forEach(function (column) {
      column.classList.remove("drop-target");
    });
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".board-card[data-move-url]");
    if (!card) {
      return;
    }
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.id);
  });

  document.addEventListener("dragend", function () {
    if (dragged) {
      dragged.classList.remove("dragging");
    }
    dragged = null;
    clearTargets();
  });

  document.addEventListener("dragover", function (event) {
    var column = dragged ? columnOf(event.target) : null;
    if (!column) {
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!column.classList.contains("drop-target")) {
      clearTargets();
      column.classList.add("drop-target");
    }
  });

  document.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) {
      column.classList.remove("drop-target");
    }
  });

  document.addEventListener("drop", function (event) {
    var column = dragged ? columnOf(event.target) : null;
    if (!column) {
      return;
    }
    event.preventDefault();
    var card = dragged;
    clearTargets();
    if (columnOf(card) === column || typeof htmx === "undefined") {
      return;
    }
    // Show the card in its new column at once; the columns from the server replace it.
    column.querySelector(".board-cards").prepend(card);
    htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: "#board",
      swap: "outerHTML",
      // The version the card was drawn at: a deal changed since is a conflict, not
      // silently moved on top of someone else's change.
      values: { stage: column.dataset.stageId, version: card.dataset.version },
    });
  });
})();
