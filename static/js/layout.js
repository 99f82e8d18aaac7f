// Layout helpers for every page (templates/base.html), loaded before the body.
// 1. The phone menu: the document is marked at once, so the stylesheet folds the menu
//    behind its button from the first paint on a narrow screen; without this script the
//    button stays hidden and the menu open.
// 2. Scroll cues: a table box wider than the screen (.table-scroll, .targets-scroll) gets
//    the class "overflowing" (its edge shadows), a "scroll →" line under it, and a tab stop
//    so a keyboard can scroll it; re-checked on resize and after htmx swaps.
document.documentElement.classList.add("has-menu-button");

function markScrollBoxes(root) {
  for (const box of root.querySelectorAll(".table-scroll, .targets-scroll")) {
    const overflowing = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("overflowing", overflowing);
    let hint = box.nextElementSibling;
    if (!hint || !hint.classList.contains("scroll-hint")) {
      hint = document.createElement("p");
      hint.className = "scroll-hint";
      hint.setAttribute("aria-hidden", "true");
      hint.textContent = "scroll \u2192";
      box.after(hint);
    }
    if (overflowing) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", "Table, scrolls sideways");
    } else {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector(".menu-button");
  const menu = document.getElementById("main-menu");
  if (button && menu) {
    const setOpen = (open) => {
      button.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("open", open);
    };
    button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
    // Escape closes the open menu and gives the focus back to its button.
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        button.focus();
      }
    });
  }
  markScrollBoxes(document);
  let pending = null;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => markScrollBoxes(document));
  });
  document.body.addEventListener("htmx:afterSettle", () => markScrollBoxes(document));
  // Folded "Show the figures" tables have no width until opened.
  document.addEventListener("toggle", () => markScrollBoxes(document), true);
});
