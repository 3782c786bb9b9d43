// A line diff (longest common subsequence) of two texts, for the config
// editor. The common head and tail are taken off first; what is left is
// diffed only when it is small enough to do so quickly in a page.

const maxCells = 4_000_000;

// lineDiff returns [{op, text}] with op " " (both), "-" (only in a) or
// "+" (only in b), or null when the texts are too far apart to diff.
export function lineDiff(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  if ((xs.length + 1) * (ys.length + 1) > maxCells) return null;
  const n = xs.length;
  const m = ys.length;
  // lcs[i][j]: the LCS length of xs[i:] and ys[j:], in one flat array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = xs[i] === ys[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out = x.slice(0, head).map((text) => ({ op: " ", text }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && xs[i] === ys[j]) {
      out.push({ op: " ", text: xs[i] }); i++; j++;
    } else if (j < m && (i === n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j])) {
      out.push({ op: "+", text: ys[j] }); j++;
    } else {
      out.push({ op: "-", text: xs[i] }); i++;
    }
  }
  for (const text of x.slice(x.length - tail)) out.push({ op: " ", text });
  return out;
}

// hunks keeps the changed lines with `context` lines around each.
export function hunks(diff, context = 3) {
  const keep = new Array(diff.length).fill(false);
  diff.forEach((d, k) => {
    if (d.op === " ") return;
    for (let c = Math.max(0, k - context); c <= Math.min(diff.length - 1, k + context); c++) keep[c] = true;
  });
  const out = [];
  let skipped = false;
  diff.forEach((d, k) => {
    if (keep[k]) { out.push(d); skipped = false; } else if (!skipped) { out.push({ op: "@", text: "…" }); skipped = true; }
  });
  return out;
}
