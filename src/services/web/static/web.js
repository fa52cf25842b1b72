// rospki web interface: the pages work without this script; it adds live progress to commands
// that generate keys (the server streams the executor's progress lines) and submits a filter
// when its flag choice changes. No framework, nothing loaded from elsewhere.
'use strict';

function streamSubmit(form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const out = form.querySelector('output.progress');
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    if (out) out.textContent = 'working…';
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: 'application/x-ndjson', 'X-CSRF-Token': document.body.dataset.csrf || '' },
        credentials: 'same-origin',
      });
      if (!response.ok || !response.body) { window.location.reload(); return; }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line);
          if (msg.progress && out) out.textContent = msg.progress;
          if (msg.location) { window.location.assign(msg.location); return; }
        }
      }
      window.location.reload();
    } catch (e) {
      if (out) out.textContent = 'the connection was lost; reload the page';
      if (button) button.disabled = false;
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  for (const form of document.querySelectorAll('form[data-progress]')) streamSubmit(form);
  for (const select of document.querySelectorAll('select[data-autosubmit]')) {
    select.addEventListener('change', () => select.form && select.form.requestSubmit());
  }
});
