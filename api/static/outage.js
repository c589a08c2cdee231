// The outage page (api/templates/outage.html) reloads itself every 10 s, to become the page
// asked for once the database answers. As a <meta refresh> it reloaded into a controller
// that was off or out of reach too (a power cut, the booth's network down), and was left on
// the browser's own error page, which does not come back with the controller: the guard saw
// nothing more until someone reloaded it. So it reloads only once the controller answers.
"use strict";
(function () {
  const EVERY_MS = 10000;

  async function controllerAnswers() {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), 4000);
    try {
      // Any answer will do (the database still down is a 503); only no answer keeps the page.
      await fetch(location.href, {
        method: "HEAD", cache: "no-store", credentials: "same-origin", redirect: "manual",
        signal: timeout.signal,
      });
      return true;
    } catch (err) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  setInterval(async () => {
    // A GET of the address, as the refresh was: a page answered to a form's POST is not sent
    // again (reload would offer to).
    if (await controllerAnswers()) location.replace(location.href);
  }, EVERY_MS);
})();
