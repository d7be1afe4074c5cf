"use strict";
document.getElementById("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/login", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({token: document.getElementById("token").value})});
  if (r.ok) { location.reload(); }
  else { document.getElementById("login-error").textContent = "That token is not right."; }
});
