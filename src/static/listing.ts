// list_directory: an HTML index of a folder with no index.html. Names are
// HTML-escaped and links percent-encoded from the name's bytes, so a file
// called `<b>&"x".html` shows as text and links to itself, and one whose name
// is not UTF-8 (`caf\xE9.txt`) links as `caf%E9.txt`, where porta serves it.

import { readdir } from 'node:fs/promises';
import escapeHtml from 'escape-html';
import { type FsPath, percentEncodeName } from '../http/path';

const DOT = 0x2e;

export async function renderListing(dirPath: FsPath, urlPath: string, showDotfiles: boolean): Promise<Buffer> {
  const entries = await readdir(dirPath, { withFileTypes: true, encoding: 'buffer' });
  const names = entries
    .filter((e) => showDotfiles || e.name[0] !== DOT)
    .map((e) => ({ bytes: e.name, isDir: e.isDirectory() }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
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
  for (const { bytes, isDir } of names) {
    const href = percentEncodeName(bytes) + (isDir ? '/' : '');
    // A name that is not UTF-8 shows with U+FFFD; its link carries the real bytes.
    const text = bytes.toString('utf8') + (isDir ? '/' : '');
    html += `<li><a href="${href}">${escapeHtml(text)}</a></li>\n`;
  }
  html += '</ul>\n<hr>\n</body></html>\n';
  return Buffer.from(html, 'utf8');
}
