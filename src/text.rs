//! Numbers in words for messages and reports.

/// `1 epoch`, `3 epochs`: a count with its noun, plural unless one.
pub fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_zero_plural() {
        assert_eq!(super::counted(1, "epoch"), "1 epoch");
        assert_eq!(super::counted(0, "run"), "0 runs");
        assert_eq!(super::counted(12, "seed"), "12 seeds");
    }
}
