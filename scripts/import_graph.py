#!/usr/bin/env python3
"""Measure the module structure of the workspace's Rust crates (standard library only; no cargo).

For each crate (default: the subgraphs, router, protocol, registry and the root crate) it maps
every file under <crate>/src to its module path and builds a file graph from path references
(`crate::…`, `super::…`, `self::…` and bare `child::…` paths to the module's own child modules, in
`use` trees and in code), each resolved to the longest module path that exists as a file (else the
crate root). Comments, string/char literals and `#[cfg(test)] mod …` blocks/files are ignored.
It reports:
  * import cycles  - strongly connected components (> 1 file) of that graph, ignoring edges to the
                     crate root file; `mod` declarations alone are not edges;
  * upward imports - distinct file edges A -> B where B is the crate root (A is not) or B's module
                     path is a proper prefix of A's (a file reaching into its own ancestor);
  * functions over 80 lines (`fn` line to matching `}`) and files over 800 lines (minus tests).

Run:  python3 scripts/import_graph.py [--json] [--root DIR] [CRATE_DIR ...]   ("." = root crate)
"""
import argparse, bisect, json, re, sys
from pathlib import Path

DEFAULT_CRATES = ["subgraphs/identity", "subgraphs/apps", "subgraphs/licensing", "subgraphs/kit",
                  "router", "protocol", "registry", "."]
FN_LIMIT, FILE_LIMIT = 80, 800
RAW = re.compile(r'b?r(#*)"')
CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]*\}|.)|[^\\'\n])'")
TEST_MOD = re.compile(r'#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])')
INLINE_MOD = re.compile(r'\bmod\s+(\w+)\s*\{')
USE = re.compile(r'\buse\s+([^;]+);')
PATH = re.compile(r'(?<![\w$:])([A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)+)')
FN = re.compile(r'\bfn\s+(\w+)')


def strip(s):
    """Blank comments, string and char literals (keeping newlines and offsets)."""
    out, i, n = list(s), 0, len(s)
    while i < n:
        c, j = s[i], None
        if s.startswith('//', i):
            j = s.find('\n', i) % (n + 1)
        elif s.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                two = s[j:j + 2]
                depth += (two == '/*') - (two == '*/')
                j += 2 if two in ('/*', '*/') else 1
        elif c in 'br' and not (s[i - 1:i].isalnum() or s[i - 1:i] == '_') and (m := RAW.match(s, i)):
            j = s.find('"' + m.group(1), m.end())
            j = n if j < 0 else j + 1 + len(m.group(1))
        elif c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                j += 2 if s[j] == '\\' else 1
            j += 1
        elif c == "'" and (m := CHAR.match(s, i)):
            j = m.end()
        if j is None:
            i += 1
            continue
        out[i:j] = [ch if ch == '\n' else ' ' for ch in s[i:j]]
        i = j
    return ''.join(out)[:n]


def close(s, i):
    """Index of the `}` matching the `{` at s[i]."""
    depth = 0
    for j in range(i, len(s)):
        depth += (s[j] == '{') - (s[j] == '}')
        if depth == 0:
            return j
    return len(s) - 1


def expand(prefix, tree):
    """Flatten a `use` tree (`a::{b, c::{d, self}}`) into paths (lists of segments)."""
    items, depth, cur = [], 0, ''
    for ch in tree + ',':
        if ch == ',' and depth == 0:
            items.append(cur)
            cur = ''
            continue
        depth += (ch == '{') - (ch == '}')
        cur += ch
    paths = []
    for item in filter(None, items):
        if '{' in item:
            head, inner = item.split('{', 1)
            paths += expand(prefix + [p for p in head.split('::') if p], inner[:-1])
        else:
            segs = prefix + [p for p in item.split('::') if p and p != '*']
            paths.append(segs[:-1] if segs and segs[-1] == 'self' else segs)
    return paths


def module_of(rel):
    parts = list(rel.with_suffix('').parts)
    if parts[-1] == 'mod' or (len(parts) == 1 and parts[0] in ('lib', 'main')):
        parts = parts[:-1]
    return '::'.join(parts)


def resolve(segs, mod, by_mod, root_file):
    """File a path (list of segments) used in module `mod` refers to, or None if not crate-local."""
    first, rest = segs[0], segs[1:]
    if first == 'crate':
        base = []
    elif first in ('self', 'super'):
        base = mod[:-1] if first == 'super' else mod
        while rest and rest[0] == 'super':
            base, rest = base[:-1], rest[1:]
    elif '::'.join(mod + [first]) in by_mod:   # bare path to one of the module's own child files
        base, rest = mod, segs
    else:
        return None
    full = base + [r for r in rest if r != 'self']
    return next((by_mod[p] for k in range(len(full), 0, -1) if (p := '::'.join(full[:k])) in by_mod),
                root_file)


def tarjan(adj):
    index, low, stack, sccs = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
            if w in stack:
                low[v] = min(low[v], low[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(comp) > 1:
                sccs.append(sorted(comp))
    for v in sorted(adj):
        if v not in index:
            visit(v)
    return sorted(sccs)


def shortest_cycle(adj, comp):
    prev, queue = {comp[0]: None}, [comp[0]]
    for v in queue:
        for w in adj[v]:
            if w == comp[0]:
                path = [v]
                while prev[path[-1]]:
                    path.append(prev[path[-1]])
                return path[::-1] + [w]
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)


def analyse(root, crate):
    src = root / crate / 'src' if (root / crate / 'src').is_dir() else root / crate
    files, skip = {}, set()
    for path in sorted(src.rglob('*.rs')):
        rel = path.relative_to(src)
        if not {'tests', 'benches', 'bin'} & set(rel.parts[:-1]):
            raw = path.read_text(encoding='utf-8', errors='replace')
            files[rel.as_posix()] = {'mod': module_of(rel), 'text': strip(raw),
                                     'lines': len(raw.splitlines()), 'test_lines': 0}
    for f in files.values():   # blank `#[cfg(test)] mod x { ... }`; drop files of `#[cfg(test)] mod x;`
        t = f['text']
        for m in list(TEST_MOD.finditer(t)):
            if m.group(2) == ';':
                skip.add('::'.join(p for p in (f['mod'], m.group(1)) if p))
                continue
            end = close(t, m.end() - 1)
            f['test_lines'] += t.count('\n', m.start(), end) + 1
            t = t[:m.start()] + re.sub(r'[^\n]', ' ', t[m.start():end + 1]) + t[end + 1:]
        f['text'] = t
        f['starts'] = [0] + [i + 1 for i, c in enumerate(t) if c == '\n']
    files = {k: v for k, v in files.items() if not any(v['mod'] == s or v['mod'].startswith(s + '::')
                                                      for s in skip)}
    # with a lib.rs, main.rs is a separate binary crate: measured for length, not part of the graph
    graph = {k: v for k, v in files.items() if not (k == 'main.rs' and 'lib.rs' in files)}
    by_mod = {v['mod']: k for k, v in graph.items()}
    root_file = by_mod.get('')
    edges = {}   # (from file, to file) -> referenced items
    for name, f in graph.items():
        t, code, here = f['text'], list(f['text']), f['mod'].split('::') if f['mod'] else []
        spans = [(m.start(), close(t, m.end() - 1), m.group(1)) for m in INLINE_MOD.finditer(t)]
        refs = []
        for m in USE.finditer(t):
            tree = re.sub(r'\s+', '', re.sub(r'\s+as\s+\w+', '', m.group(1))).lstrip(':')
            refs += [(m.start(), segs) for segs in expand([], tree) if segs]
            code[m.start():m.end()] = ' ' * (m.end() - m.start())
        code = ''.join(code)
        refs += [(m.start(), re.sub(r'\s+', '', m.group(1)).split('::')) for m in PATH.finditer(code)
                 if code[max(0, m.start() - 3):m.start()] != 'in ']   # not pub(in crate::x)
        for pos, segs in refs:
            target = resolve(segs, here + [n for a, b, n in spans if a < pos < b], by_mod, root_file)
            if target and target != name:
                edges.setdefault((name, target), set()).add('::'.join(segs))
    adj = {n: sorted({b for (a, b) in edges if a == n and b != root_file}) for n in graph}
    cycles = [{'files': c, 'example': shortest_cycle(adj, c)} for c in tarjan(adj)]
    upward = [{'from': a, 'to': b, 'items': sorted(items)} for (a, b), items in sorted(edges.items())
              if graph[a]['mod'] and (b == root_file or graph[a]['mod'].startswith(graph[b]['mod'] + '::'))]
    long_fns, long_files = [], []
    for name, f in files.items():
        t, starts = f['text'], f['starts']
        for m in FN.finditer(t):
            depth, j = 0, m.end()
            while j < len(t) and not (depth == 0 and t[j] in '{;'):
                depth += (t[j] in '([') - (t[j] in ')]')
                j += 1
            if j < len(t) and t[j] == '{':
                line = bisect.bisect_right(starts, m.start())
                length = bisect.bisect_right(starts, close(t, j)) - line + 1
                if length > FN_LIMIT:
                    long_fns.append({'file': name, 'line': line, 'name': m.group(1), 'lines': length})
        if f['lines'] - f['test_lines'] > FILE_LIMIT:
            long_files.append({'file': name, 'lines': f['lines'] - f['test_lines']})
    long_fns.sort(key=lambda x: (-x['lines'], x['file'], x['line']))
    long_files.sort(key=lambda x: -x['lines'])
    return {'crate': crate, 'src': src.relative_to(root).as_posix(), 'files': len(files),
            'edges': len(edges), 'edge_list': [[a, b, sorted(i)] for (a, b), i in sorted(edges.items())],
            'cycles': cycles, 'upward_imports': upward,
            'long_functions': long_fns, 'long_files': long_files}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('crates', nargs='*', default=DEFAULT_CRATES)
    ap.add_argument('--root', default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args()
    root = Path(args.root).resolve()
    reports = [analyse(root, c) for c in args.crates]
    totals = {'import cycles': sum(len(r['cycles']) for r in reports),
              'upward imports': sum(len(r['upward_imports']) for r in reports),
              f'functions over {FN_LIMIT} lines': sum(len(r['long_functions']) for r in reports),
              f'files over {FILE_LIMIT} lines': sum(len(r['long_files']) for r in reports)}
    if args.json:
        json.dump({'crates': reports, 'summary': totals}, sys.stdout, indent=2)
        print()
        return
    for r in reports:
        print(f"== {r['src']}  ({r['files']} files, {r['edges']} file edges)")
        print(f"  import cycles: {len(r['cycles'])}")
        for c in r['cycles']:
            print(f"    [{len(c['files'])} files] {', '.join(c['files'])}")
            if c['example']:
                print(f"      e.g. {' -> '.join(c['example'])}")
        print(f"  upward imports: {len(r['upward_imports'])}")
        for u in r['upward_imports']:
            print(f"    {u['from']} -> {u['to']}: {', '.join(u['items'])}")
        print(f"  functions over {FN_LIMIT} lines: {len(r['long_functions'])}")
        for fn in r['long_functions']:
            print(f"    {fn['file']}:{fn['line']} {fn['name']} {fn['lines']}")
        print(f"  files over {FILE_LIMIT} lines: {len(r['long_files'])}")
        for f in r['long_files']:
            print(f"    {f['file']} {f['lines']}")
    print('\n'.join(f'{k}: {v}' for k, v in totals.items()))


if __name__ == '__main__':
    main()
