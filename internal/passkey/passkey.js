// Kaiin passkeys: registration on the account page, passwordless sign-in
// (button and autofill) on the sign-in page, and the second step on the
// two-step verification page. No dependencies; loaded with defer under a
// CSP of script-src 'self'. Pages work without it: its buttons stay
// hidden until it finds WebAuthn in the browser.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }
  var lang = document.documentElement.lang || "en";

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) {
      return undefined;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // ServerError carries a coded error from a JSON answer.
  function ServerError(code, message) {
    this.name = "ServerError";
    this.code = code;
    this.message = message;
  }

  function post(path, body) {
    body = body || {};
    body.lang = lang;
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) {
          var e = (data && data.error) || {};
          throw new ServerError(e.code || "HTTP " + res.status, e.message || "");
        }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: fromB64url(c.id) };
      if (c.transports) {
        d.transports = c.transports;
      }
      return d;
    });
  }

  function creationOptions(pk) {
    var o = Object.assign({}, pk);
    o.challenge = fromB64url(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    o.excludeCredentials = descriptors(pk.excludeCredentials);
    return o;
  }

  function requestOptions(pk) {
    var o = Object.assign({}, pk);
    o.challenge = fromB64url(pk.challenge);
    o.allowCredentials = descriptors(pk.allowCredentials);
    return o;
  }

  // credentialJSON is the PublicKeyCredential as the server reads it.
  function credentialJSON(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        response.transports = r.getTransports();
      }
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  // showError puts an error in the page's #passkey-error box: a server's
  // coded error, or the browser's (cancelled, already registered).
  function showError(err) {
    var box = document.getElementById("passkey-error");
    if (!box) {
      return;
    }
    var text = box.querySelector(".msg");
    var code = box.querySelector(".code");
    if (err instanceof ServerError) {
      text.textContent = err.message;
      code.textContent = err.code;
    } else if (err && err.name === "InvalidStateError") {
      text.textContent = box.getAttribute("data-exists");
      code.textContent = "";
    } else {
      text.textContent = box.getAttribute("data-cancelled");
      code.textContent = "";
    }
    box.hidden = false;
  }

  function clearError() {
    var box = document.getElementById("passkey-error");
    if (box) {
      box.hidden = true;
    }
  }

  // complete posts a plain form: the server then signs in and redirects.
  function complete(path) {
    var f = document.createElement("form");
    f.method = "post";
    f.action = path;
    document.body.appendChild(f);
    f.submit();
  }

  function formValue(name) {
    var el = document.querySelector('form input[name="' + name + '"]');
    return el ? el.value : "";
  }

  // Sign-in page: the button, and autofill (conditional mediation).
  function setUpSignIn(button) {
    var pending = null; // { controller, done } of the autofill request
    var busy = false;

    function finish(cred) {
      return post("/passkey/login/finish", {
        credential: credentialJSON(cred),
        next: formValue("next"),
        authRequestID: formValue("authRequestID")
      }).then(function (data) {
        complete(data.complete);
      });
    }

    function startAutofill() {
      if (!PublicKeyCredential.isConditionalMediationAvailable) {
        return;
      }
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok || busy) {
          return;
        }
        var controller = new AbortController();
        var done = post("/passkey/login/begin").then(function (data) {
          return navigator.credentials.get({
            mediation: "conditional",
            publicKey: requestOptions(data.publicKey),
            signal: controller.signal
          });
        }).then(function (cred) {
          if (cred) {
            busy = true;
            return finish(cred);
          }
        }).catch(function (err) {
          if (!controller.signal.aborted) {
            busy = false;
            showError(err);
          }
        });
        pending = { controller: controller, done: done };
      }).catch(function () {});
    }

    button.hidden = false;
    button.addEventListener("click", function () {
      if (busy) {
        return;
      }
      busy = true;
      clearError();
      var wait = Promise.resolve();
      if (pending) {
        pending.controller.abort();
        wait = pending.done;
        pending = null;
      }
      wait.then(function () {
        return post("/passkey/login/begin");
      }).then(function (data) {
        return navigator.credentials.get({ publicKey: requestOptions(data.publicKey) });
      }).then(finish).catch(function (err) {
        busy = false;
        showError(err);
        startAutofill();
      });
    });
    startAutofill();
  }

  // Account page: add a passkey.
  function setUpRegister(box) {
    var button = document.getElementById("passkey-register");
    var name = document.getElementById("passkey-name");
    box.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      clearError();
      post("/passkey/register/begin").then(function (data) {
        return navigator.credentials.create({ publicKey: creationOptions(data.publicKey) });
      }).then(function (cred) {
        return post("/passkey/register/finish", { credential: credentialJSON(cred), name: name ? name.value : "" });
      }).then(function () {
        window.location.assign("/account");
      }).catch(function (err) {
        button.disabled = false;
        showError(err);
      });
    });
  }

  // Two-step verification page: offered when the member has a passkey.
  function setUpSecondFactor(button) {
    post("/login/mfa/passkey/begin").then(function () {
      button.hidden = false;
    }).catch(function () {});
    button.addEventListener("click", function () {
      button.disabled = true;
      clearError();
      post("/login/mfa/passkey/begin").then(function (data) {
        return navigator.credentials.get({ publicKey: requestOptions(data.publicKey) });
      }).then(function (cred) {
        return post("/login/mfa/passkey/finish", { credential: credentialJSON(cred) });
      }).then(function (data) {
        complete(data.complete);
      }).catch(function (err) {
        button.disabled = false;
        showError(err);
      });
    });
  }

  var el;
  if ((el = document.getElementById("passkey-signin"))) {
    setUpSignIn(el);
  }
  if ((el = document.getElementById("passkey-add"))) {
    setUpRegister(el);
  }
  if ((el = document.getElementById("passkey-2fa"))) {
    setUpSecondFactor(el);
  }
})();
