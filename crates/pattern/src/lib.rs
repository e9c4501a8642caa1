//! Redis glob matching (as `stringmatchlen`) (`KEYS`, `SCAN MATCH`, `CONFIG GET`): `*`, `?`, `[abc]`, `[^a]`,
//! `[a-z]` and `\` escapes, on bytes.

/// True when `s` matches `pattern`. Iterative with single-star backtracking, so a hostile
/// pattern (`*a*a*a*...b`) cannot blow the stack or take exponential time.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while i < s.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(pattern, p, s[i], nocase) {
                        if matched {
                            p = next;
                            i += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if eq(pattern[p + 1], s[i]) {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, s[i]) {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: backtrack to the last star, letting it absorb one more byte.
        match star {
            Some((sp, si)) => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Matches one byte against the class starting at `pattern[p] == b'['`. Returns whether it
/// matched and the index after the class.
fn match_class(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let negate = j < pattern.len() && pattern[j] == b'^';
    if negate {
        j += 1;
    }
    let norm = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = norm(c);
    let mut matched = false;
    loop {
        if j >= pattern.len() {
            // Unterminated class: Redis treats the rest as the class.
            break;
        }
        match pattern[j] {
            b']' => {
                j += 1;
                break;
            }
            b'\\' if j + 1 < pattern.len() => {
                if norm(pattern[j + 1]) == c {
                    matched = true;
                }
                j += 2;
            }
            a if j + 2 < pattern.len() && pattern[j + 1] == b'-' && pattern[j + 2] != b']' => {
                let (mut lo, mut hi) = (norm(a), norm(pattern[j + 2]));
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                if c >= lo && c <= hi {
                    matched = true;
                }
                j += 3;
            }
            a => {
                if norm(a) == c {
                    matched = true;
                }
                j += 1;
            }
        }
    }
    Some((matched != negate, j))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*", b"h*", false));
        assert!(!glob_match(b"h\\*", b"hx", false));
        assert!(glob_match(b"user:*:name", b"user:42:name", false));
        assert!(!glob_match(b"user:*:name", b"user:42:age", false));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &[b'a'; 200], false));
        assert!(glob_match(b"", b"", false));
        assert!(!glob_match(b"", b"a", false));
    }
}
