// The demo pages show which CGI mode porta runs in: a program knows it
// (PORTA_CGI_MODE) and /cgi-bin/mode.py says it.
(function () {
  var badge = document.querySelector('[data-mode]');
  if (!badge) return;
  var words = {
    socket: 'socket — the program writes straight to your browser; its Status: and Location: lines arrive as plain headers (make run-pipe to have them parsed)',
    pipe: 'pipe — porta parses each program\'s header block: Status:, Location: and redirects work',
  };
  fetch('/cgi-bin/mode.py', { cache: 'no-store' })
    .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
    .then(function (text) {
      var mode = text.trim().split('\n').pop();
      // With --no-cgi porta serves mode.py as a file: its source, not a mode.
      if (!Object.prototype.hasOwnProperty.call(words, mode)) return Promise.reject(mode);
      badge.textContent = words[mode];
    })
    .catch(function () { badge.textContent = 'CGI is off or unreachable (porta --no-cgi?)'; });
})();
