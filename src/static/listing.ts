// list_directory: an HTML index of a folder with no index.html. Names are
// HTML-escaped and links percent-encoded, so a file called `<b>&"x".html`
// shows as text and links to itself.

import { readdir } from 'node:fs/promises';
import escapeHtml from 'escape-html';

export async function renderListing(dirPath: string, urlPath: string, showDotfiles: boolean): Promise<Buffer> {
  const entries = await readdir(dirPath, { withFileTypes: true });
  const names = entries
    .filter((e) => showDotfiles || !e.name.startsWith('.'))
    .map((e) => (e.isDirectory() ? e.name + '/' : e.name))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let displayPath: string;
  try {
    displayPath = decodeURIComponent(urlPath);
  } catch {
    displayPath = urlPath;
  }
  const title = `Index of ${escapeHtml(displayPath)}`;
  let html =
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8">' +
    `<title>${title}</title></head>\n<body><h1>${title}</h1>\n<hr>\n<ul>\n`;
  if (urlPath !== '/') html += '<li><a href="../">../</a></li>\n';
  for (const name of names) {
    const isDir = name.endsWith('/');
    const bare = isDir ? name.slice(0, -1) : name;
    const href = encodeURIComponent(bare) + (isDir ? '/' : '');
    html += `<li><a href="${href}">${escapeHtml(name)}</a></li>\n`;
  }
  html += '</ul>\n<hr>\n</body></html>\n';
  return Buffer.from(html, 'utf8');
}
