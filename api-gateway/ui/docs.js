/* Renders /api/openapi.yaml with the vendored Redoc (no other host). */
'use strict';

(function () {
  const target = document.getElementById('redoc');
  if (typeof window.Redoc === 'undefined') {
    target.replaceChildren();
    const p = document.createElement('p');
    p.className = 'failed';
    p.textContent = 'Redoc did not load; the document itself is at /api/openapi.yaml.';
    target.append(p);
    return;
  }
  window.Redoc.init('/api/openapi.yaml', {
    hideDownloadButton: false,
    expandResponses: '200,201',
    jsonSampleExpandLevel: 3,
    requiredPropsFirst: true,
    sortPropsAlphabetically: false,
    theme: { sidebar: { width: '280px' } },
  }, target, function (err) {
    if (err) {
      target.replaceChildren();
      const p = document.createElement('p');
      p.className = 'failed';
      p.textContent = 'The API reference could not be rendered: ' + String(err.message || err);
      target.append(p);
    }
  });
})();
