//! Numbers in words for messages and reports.

/// `1 epoch`, `3 epochs`: a count with its noun, plural unless one.
pub fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `s` as one shell word: as it is when it needs no quoting, else in single quotes.
pub fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,+:".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_zero_plural() {
        assert_eq!(super::counted(1, "epoch"), "1 epoch");
        assert_eq!(super::counted(0, "run"), "0 runs");
        assert_eq!(super::counted(12, "seed"), "12 seeds");
    }

    #[test]
    fn a_shell_word_is_quoted_only_when_it_must_be() {
        assert_eq!(super::shell_word("optimizer.lr=1e-3"), "optimizer.lr=1e-3");
        assert_eq!(
            super::shell_word("study.axes.x=[1, 2]"),
            "'study.axes.x=[1, 2]'"
        );
        assert_eq!(super::shell_word("it's"), r"'it'\''s'");
        assert_eq!(super::shell_word(""), "''");
    }
}
