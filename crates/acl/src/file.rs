//! The ACL file (`aclfile`): one `user <name> <rules...>` line per user, as `ACL SAVE` writes
//! it and `ACL LOAD` and startup read it. Loading is all or nothing: any bad line leaves the
//! users as they were and the error names the file and line (Redis's texts).

use crate::user::{merge_selectors, Rules, User};

/// Parses a whole ACL file. The `default` user is created (`on nopass ~* &* +@all`) when the
/// file does not define it. Users come back in file order.
pub fn parse(text: &str, filename: &str, rules: Rules<'_>) -> Result<Vec<User>, String> {
    let mut errors = String::new();
    let mut users: Vec<User> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let linenum = i + 1;
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').collect();
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{filename}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if name
            .bytes()
            .any(|c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
        {
            errors.push_str(&format!(
                "'{filename}:{linenum}: username '{name}' contains invalid characters. "
            ));
            continue;
        }
        if users.iter().any(|u| u.name == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {linenum}. "
            ));
            continue;
        }
        let mut u = User::new(name, rules);
        let ops: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.as_bytes().to_vec()).collect();
        let merged = match merge_selectors(&ops) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        for op in merged {
            let op: Vec<u8> = op
                .iter()
                .copied()
                .skip_while(|c| matches!(c, b'\t' | b'\r' | b'\n'))
                .collect();
            let end = op
                .iter()
                .rposition(|c| !matches!(c, b'\t' | b'\r' | b'\n'))
                .map_or(0, |p| p + 1);
            if let Err(e) = u.apply(rules, &op[..end]) {
                errors.push_str(&format!("{filename}:{linenum}: {e}. "));
            }
        }
        users.push(u);
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    if !users.iter().any(|u| u.name == "default") {
        users.push(User::default_user(rules));
    }
    Ok(users)
}

/// The file `ACL SAVE` writes: users in name order.
pub fn render<'a>(users: impl IntoIterator<Item = &'a User>, rules: Rules<'_>) -> String {
    let mut sorted: Vec<&User> = users.into_iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut out = String::new();
    for u in sorted {
        out.push_str("user ");
        out.push_str(&u.name);
        out.push(' ');
        out.push_str(&u.describe(rules));
        out.push('\n');
    }
    out
}
