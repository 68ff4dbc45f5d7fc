// The page behind the links roster mails: /accept-invitation?token=… sets
// the password of an invited user and logs them in; /reset-password?token=…
// sets a new password after a reset request.
(function () {
  "use strict";
  var invitation = location.pathname === "/accept-invitation";
  var token = new URLSearchParams(location.search).get("token") || "";
  var form = document.getElementById("form");
  var message = document.getElementById("message");
  if (!invitation) document.getElementById("title").textContent = "Choose a new password";
  // The token must not stay in the address bar or the history.
  history.replaceState(null, "", location.pathname);

  function say(text, error) {
    message.textContent = text;
    message.className = error ? "error" : "";
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var pw = document.getElementById("password").value;
    if (pw !== document.getElementById("repeat").value) return say("The two passwords differ.", true);
    var query = invitation
      ? "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token expiresAt challenge { id } user { id displayName } } }"
      : "mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }";
    fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: query, variables: { t: token, p: pw } })
    }).then(function (r) { return r.json(); }).then(function (res) {
      if (res.errors && res.errors.length) return say(res.errors[0].message, true);
      form.hidden = true;
      if (!invitation) return say("Your password is changed, and every session ended: log in with the new one.");
      var p = res.data.acceptInvitation;
      if (p.token) {
        sessionStorage.setItem("roster.token", p.token);
        say("Welcome, " + p.user.displayName + ": you are logged in.");
      } else {
        say("Your password is set. Log in to finish with your second factor.");
      }
    }).catch(function () { say("The server could not be reached: try again.", true); });
  });
})();
