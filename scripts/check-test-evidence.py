#!/usr/bin/env python3
"""Fails on test expectations that cannot fail or that a `try?` can skip.

Usage: scripts/check-test-evidence.py [DIR]     (default: Tests)

Reads every *.swift file under DIR (comments dropped, string literals kept
apart, so nothing in a comment or a message counts) and reports, one line per
finding as FILE:LINE: what:

  self-comparison    #expect / #require comparing an expression with itself
                     (`a == a`), or with a ternary that has it as a branch
                     (`a == (c ? b : a)`): true whatever the code does.
  try-in-expectation `try?` inside #expect / #require where nil can satisfy
                     it (a nil or != comparison, ??, or no == at all): the
                     call's error makes it hold; use #expect(throws:) or let
                     the error fail the test. (`(try? f())?.n == 3` fails on
                     an error and is not reported.)
  if-try-skips       `if let x = try? …` around #expect / #require /
                     Issue.record, with no else: when the call throws, the
                     expectations are skipped and the test passes.
  guard-try-skips    `guard let x = try? … else { return | continue | break }`
                     that records nothing: the rest is skipped silently. (An
                     else that records, counts, throws or returns a value is
                     fine: the caller or a later expectation sees it.)

The checker tests itself first on small snippets (each must be flagged, or
must not be); exit status 2 if that self-test fails, 1 on any finding, 0 when
clean. scripts/check-rule-coverage.py uses the same reader.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Source:
    """A Swift file as code text without comments, each string literal
    replaced by a placeholder `\\x00K\\x00` (K its index in `strings`)."""

    def __init__(self, text, path="<text>"):
        self.path = path
        self.strings = []
        out, lines = [], []
        self._lex(text, 0, out, lines, 1)
        self.code = "".join(out)
        self.lines = lines

    def _lex(self, s, i, out, lines, line):
        n = len(s)
        while i < n:
            c = s[i]
            if s.startswith("//", i):
                j = s.find("\n", i)
                i = n if j < 0 else j
                continue
            if s.startswith("/*", i):
                depth, i = 1, i + 2
                while i < n and depth:
                    if s.startswith("/*", i):
                        depth, i = depth + 1, i + 2
                    elif s.startswith("*/", i):
                        depth, i = depth - 1, i + 2
                    else:
                        line += s[i] == "\n"
                        i += 1
                out.append(" ")
                lines.append(line)
                continue
            m = re.compile(r'(#*)"').match(s, i)
            if m and (m.group(1) or c == '"'):
                start_line = line
                content, i, line = self._string(s, i, len(m.group(1)), line)
                ph = "\x00%d\x00" % len(self.strings)
                self.strings.append(content)
                out.append(ph)
                lines.extend([start_line] * len(ph))
                continue
            out.append(c)
            lines.append(line)
            line += c == "\n"
            i += 1
        return i, line

    def _string(self, s, i, hashes, line):
        """Reads the literal at i; returns (content, index after it, line)."""
        i += hashes
        multi = s.startswith('"""', i)
        i += 3 if multi else 1
        close = ('"""' if multi else '"') + "#" * hashes
        escape = "\\" + "#" * hashes
        content = []
        n = len(s)
        while i < n:
            if s.startswith(close, i):
                return "".join(content), i + len(close), line
            if s.startswith(escape + "(", i):
                # An interpolation: code up to the matching parenthesis (it
                # may hold strings of its own); kept in the content as text.
                j, depth = i + len(escape) + 1, 1
                while j < n and depth:
                    if s[j] == '"' or (s[j] == "#" and re.match(r'#+"', s[j:])):
                        h = len(re.match(r'#*', s[j:]).group(0))
                        _, j, line = self._string(s, j, h, line)
                        continue
                    depth += {"(": 1, ")": -1}.get(s[j], 0)
                    line += s[j] == "\n"
                    j += 1
                content.append(s[i:j])
                i = j
                continue
            if s.startswith(escape, i) and i + len(escape) < n:
                content.append(s[i:i + len(escape) + 1])
                i += len(escape) + 1
                continue
            line += s[i] == "\n"
            content.append(s[i])
            i += 1
        return "".join(content), i, line

    def line_of(self, offset):
        return self.lines[min(offset, len(self.lines) - 1)] if self.lines else 1

    def literal(self, placeholder_text):
        """The code text with each placeholder replaced by its literal, quoted."""
        return re.sub("\x00(\\d+)\x00", lambda m: '"' + self.strings[int(m.group(1))] + '"', placeholder_text)

    def strings_in(self, text):
        return [self.strings[int(k)] for k in re.findall("\x00(\\d+)\x00", text)]

    def matching(self, open_index):
        """Index of the bracket closing the one at open_index (strings are placeholders)."""
        pairs = {"(": ")", "[": "]", "{": "}"}
        stack = []
        for j in range(open_index, len(self.code)):
            ch = self.code[j]
            if ch in pairs:
                stack.append(pairs[ch])
            elif ch in ")]}":
                if not stack or stack.pop() != ch:
                    return -1
                if not stack:
                    return j
        return -1

    def calls(self, names):
        """(name, offset, argument text) of each call of one of `names`."""
        pattern = r"(?<!\w)(%s)\s*\(" % "|".join(re.escape(n) for n in names)
        for m in re.finditer(pattern, self.code):
            open_index = m.end() - 1
            close = self.matching(open_index)
            if close > 0:
                yield m.group(1), m.start(), self.code[open_index + 1:close]


def top_level_split(text, separators):
    """Splits text at separators that are outside any bracket."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            for sep in separators:
                if text.startswith(sep, i):
                    parts.append(text[start:i])
                    i += len(sep)
                    start = i
                    break
            else:
                i += 1
                continue
            continue
        i += 1
    parts.append(text[start:])
    return parts


def bare(expr):
    """Whitespace-free form, without redundant outer parentheses."""
    e = re.sub(r"\s+", "", expr)
    while e.startswith("(") and e.endswith(")") and closing_paren(e) == len(e) - 1:
        e = e[1:-1]
    return e


def closing_paren(e):
    depth = 0
    for k, ch in enumerate(e):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return k
    return -1


def ternary_branches(expr):
    e = bare(expr)
    q = top_level_split(e, ["?"])
    # A ternary's "?" has no "." after it (optional chaining) and no "try"/"as" before it.
    for k in range(1, len(q)):
        before, after = "?".join(q[:k]), "?".join(q[k:])
        if after.startswith(".") or re.search(r"(try|as)$", before) or before.endswith("?"):
            continue
        branches = top_level_split(after, [":"])
        if len(branches) == 2:
            return [bare(b) for b in branches]
    return []


def self_comparisons(src):
    for name, at, args in src.calls(["#expect", "#require"]):
        condition = top_level_split(args, [","])[0]
        if re.match(r"\s*throws\s*:", condition):
            continue
        for clause in top_level_split(condition, ["&&", "||"]):
            sides = top_level_split(clause, ["===", "!==", "==", "!="])
            if len(sides) != 2:
                continue
            lhs, rhs = bare(src.literal(sides[0])), bare(src.literal(sides[1]))
            if lhs and (lhs == rhs or lhs in ternary_branches(src.literal(sides[1]))
                        or rhs in ternary_branches(src.literal(sides[0]))):
                yield at, "self-comparison: %s" % re.sub(r"\s+", " ", src.literal(clause)).strip()


def try_in_expectations(src):
    for name, at, args in src.calls(["#expect", "#require"]):
        condition = top_level_split(args, [","])[0]
        if not re.search(r"\btry\?", condition):
            continue
        # `(try? f())?.x == 3` fails when f throws; with nil, !=, ?? or no
        # comparison at all, the expectation can hold because f threw.
        if re.search(r"\bnil\b|!=|\?\?", condition) or not re.search(r"==", condition):
            yield at, "try-in-expectation: `try?` inside %s(...) can make it hold when the call throws" % name


RECORDS = re.compile(r"#expect|#require|Issue\.record")
# `let x = try? …`, `var x: T = try? …`, `case .some(let x) = try? …`.
TRY_BINDING = re.compile(r"\b(let|var|case)\b[^=]*=\s*try\?")


def if_try_skips(src):
    code = src.code
    for m in re.finditer(r"(?<![\w.])if\s", code):
        brace = code.find("{", m.end())
        # The condition ends at the first "{" outside brackets.
        depth, j = 0, m.end()
        while j < len(code):
            ch = code[j]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif ch == "{" and depth == 0:
                break
            j += 1
        brace = j
        condition = code[m.end():brace]
        if not TRY_BINDING.search(condition):
            continue
        close = src.matching(brace)
        if close < 0 or not RECORDS.search(code[brace:close]):
            continue
        if re.match(r"\s*else\b", code[close + 1:]):
            continue
        yield m.start(), "if-try-skips: the expectations in this `if … try? …` block are skipped when the call throws"


def guard_try_skips(src):
    code = src.code
    for m in re.finditer(r"(?<![\w.])guard\s", code):
        e = re.compile(r"(?<![\w.])else\s*\{").search(code, m.end())
        if not e:
            continue
        condition = code[m.end():e.start()]
        if not re.search(r"\btry\?", condition):
            continue
        brace = e.end() - 1
        close = src.matching(brace)
        block = code[brace + 1:close]
        exits = re.search(r"\b(continue|break)\b|\breturn\s*(;|$|\})", block + "}")
        recorded = RECORDS.search(block) or re.search(r"\bthrow\b|fatalError|preconditionFailure|[-+*]=|[^=!<>]=[^=]", block)
        if exits and not recorded:
            yield m.start(), "guard-try-skips: `guard … try? … else { %s }` skips the rest silently" % block.strip()


CHECKS = [self_comparisons, try_in_expectations, if_try_skips, guard_try_skips]


def findings(src):
    for check in CHECKS:
        for at, what in check(src):
            yield src.line_of(at), what


SELFTEST = [
    # (snippet, expected kinds of findings)
    ('#expect(pub.type == pub.type)', ["self-comparison"]),
    ('#expect(x.a == (n == "e" ? "ssh" : x.a), "m")', ["self-comparison"]),
    ('#expect(a == b && c != c)', ["self-comparison"]),
    ('#expect("a" == "a")', ["self-comparison"]),
    ('#expect(a == b)', []),
    ('#expect(f(x) == f(y))', []),
    ('#expect(a?.b == c ? d : e)', []),
    ('#expect(x == "a, b == b")', []),
    ('// #expect(a == a)', []),
    ('#expect((try? parse(b)) != nil)', ["try-in-expectation"]),
    ('#expect((try? parse(b)) == nil)', ["try-in-expectation"]),
    ('#expect((try? parse(b))?.count ?? 0 == 0)', ["try-in-expectation"]),
    ('#expect((try? parse(b))?.count == 85)', []),
    ('#expect(throws: E.self) { try parse(b) }', []),
    ('if (try? read(p))?.contains("x") != true { #expect(f()) }', []),
    ('if let t = try? parse(b) { #expect(t.x == 1) }', ["if-try-skips"]),
    ('if let t = try? parse(b) { #expect(t.x == 1) } else { Issue.record("x") }', []),
    ('if let t = try? list(d) { copy(t) }', []),
    ('guard let t = try? parse(b) else { return }\n#expect(t.x == 1)', ["guard-try-skips"]),
    ('for b in all { guard let t = try? parse(b) else { continue } }', ["guard-try-skips"]),
    ('guard let t = try? parse(b) else { failures += 1; continue }', []),
    ('guard let t = try? read(p) else { return nil }', []),
    ('guard let t = try? parse(b) else { Issue.record("no"); return }', []),
    ('let s = "\\(x ? "a" : "b") #expect(a == a)"', []),
    ('let s = #"{"k": "v"} #expect(a == a)"#', []),
]


def selftest():
    failures = []
    for snippet, expected in SELFTEST:
        got = [what.split(":")[0] for _, what in findings(Source(snippet))]
        if got != expected:
            failures.append("self-test: %r gives %s, expected %s" % (snippet, got, expected))
    return failures


def swift_files(directory):
    for dirpath, _, names in os.walk(directory):
        for name in sorted(names):
            if name.endswith(".swift"):
                yield os.path.join(dirpath, name)


def main(argv):
    failures = selftest()
    if failures:
        print("\n".join(failures))
        return 2
    directory = argv[1] if len(argv) > 1 else os.path.join(ROOT, "Tests")
    count = 0
    files = 0
    for path in sorted(swift_files(directory)):
        files += 1
        with open(path, encoding="utf-8") as f:
            src = Source(f.read(), path)
        for line, what in findings(src):
            print("%s:%d: %s" % (os.path.relpath(path, ROOT), line, what))
            count += 1
    print("check-test-evidence: %d finding(s) in %d files" % (count, files))
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
