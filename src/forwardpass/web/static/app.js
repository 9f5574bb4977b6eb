// Copy buttons: copy the value of the input the button names, and say so.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  try {
    await navigator.clipboard.writeText(field.value);
  } catch (_error) {
    field.select();
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Forms marked data-confirm ask first, in a dialog; the server asks on a page of its own
// when a post comes without "confirmed" (no JavaScript), so nothing acts on one click.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset.confirm;
  if (!question || (form.elements.confirmed && form.elements.confirmed.value === "1")) return;
  event.preventDefault();
  const dialog = document.getElementById("confirm-dialog");
  dialog.querySelector("#confirm-dialog-question").textContent = question;
  dialog.querySelector("#confirm-dialog-yes").textContent = form.dataset.confirmAction || "Confirm";
  dialog.returnValue = "";
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "yes") return;
    const confirmed = document.createElement("input");
    confirmed.type = "hidden";
    confirmed.name = "confirmed";
    confirmed.value = "1";
    form.append(confirmed);
    form.submit();
  }, { once: true });
  dialog.showModal();
});
