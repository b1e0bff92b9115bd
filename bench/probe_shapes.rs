//! The `SHAPES` environment variable of the probes (layer_probe.rs, bn_probe.rs): shapes of N
//! numbers, `a,b,c;d,e,f`, else the probe's own list.

/// The shapes `SHAPES` names, or `default` where it is not set.
pub fn from_env<const N: usize>(default: &[[usize; N]]) -> Vec<[usize; N]> {
    let Ok(v) = std::env::var("SHAPES") else {
        return default.to_vec();
    };
    let parse = |t: &str| -> Option<[usize; N]> {
        let f: Vec<usize> = t
            .split(',')
            .map(|x| x.trim().parse().ok())
            .collect::<Option<_>>()?;
        f.try_into().ok()
    };
    v.split(';')
        .map(|t| parse(t).unwrap_or_else(|| panic!("SHAPES: {t:?} is not {N} numbers")))
        .collect()
}
