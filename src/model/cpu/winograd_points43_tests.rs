//! The F(4x4, 3x3) matrices against the definition, and the factored point functions against
//! the matrices.
use super::*;

/// Small integers, the same on every run: every product and sum below is exact in f32.
fn ints(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 17) as f32 - 8.0)
        .collect()
}

fn times<const R: usize, const C: usize>(m: &[[f32; C]; R], x: &[f32]) -> Vec<f64> {
    m.iter()
        .map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum())
        .collect()
}

/// y[r] = sum_k d[r + k] g[k] for r < 4 (a 1-D correlation of six inputs with three taps)
/// is A^T [(G g) * (B^T d)]; in 2-D the same matrices apply along rows, then columns.
#[test]
fn the_matrices_compute_the_correlation() {
    for seed in 0..20 {
        let (d, g) = (ints(6, seed), ints(3, seed + 100));
        let (v, u) = (times(&BT, &d), times(&G, &g));
        let m: Vec<f32> = v.iter().zip(&u).map(|(a, b)| (a * b) as f32).collect();
        let y = times(&AT, &m);
        for (r, yr) in y.iter().enumerate() {
            let want: f64 = (0..3).map(|k| d[r + k] as f64 * g[k] as f64).sum();
            // G holds sixths: the products are not exact, but within f32's reach of it.
            assert!(
                (yr - want).abs() < 1e-4 * (1.0 + want.abs()),
                "seed {seed}, y[{r}]"
            );
        }
    }
}

#[test]
fn point_functions_equal_the_matrices() {
    let exact = |got: &[f32], want: Vec<f64>, what: &str| {
        let want: Vec<f32> = want.into_iter().map(|v| v as f32).collect();
        assert_eq!(got, &want[..], "{what}");
    };
    for seed in 0..50 {
        let six: [f32; 6] = ints(6, seed).try_into().unwrap();
        let four: [f32; 4] = ints(4, seed + 1).try_into().unwrap();
        exact(&bt6(six), times(&BT, &six), "B^T");
        exact(&b6(six), times(&B, &six), "B");
        exact(&at6(six), times(&AT, &six), "A^T");
        exact(&a4(four), times(&A, &four), "A");
    }
}

#[test]
fn dot_and_lanes_apply_a_row_to_every_lane() {
    let ins: Vec<Vec<f32>> = (0..6).map(|k| ints(37, k)).collect();
    let ins: [&[f32]; 6] = std::array::from_fn(|k| &ins[k][..]);
    let mut outs = vec![0.0f32; 6 * 37];
    lanes!(
        ins,
        runs_mut::<6>(&mut outs, 0, 37, 37),
        bt6,
        [0, 1, 2, 3, 4, 5]
    );
    for t in 0..37 {
        let column: [f32; 6] = std::array::from_fn(|k| ins[k][t]);
        let want = times(&BT, &column);
        assert_eq!(dot(BT[3], column), want[3] as f32, "dot, lane {t}");
        for (k, w) in want.iter().enumerate() {
            assert_eq!(outs[k * 37 + t], *w as f32, "lanes, output {k}, lane {t}");
        }
    }
}

/// G's and G^T's sixths are not exact in f32, so against f64 within a few roundings.
#[test]
fn weight_point_functions_apply_g() {
    for seed in 0..50 {
        let (w, x) = (ints(3, seed), ints(6, seed + 7));
        let gw = g6(w.clone().try_into().unwrap());
        for (got, want) in gw.iter().zip(times(&G, &w)) {
            assert!(
                (*got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "G, seed {seed}"
            );
        }
        let gtx = gt3(x.clone().try_into().unwrap());
        for (got, want) in gtx.iter().zip(times(&GT, &x)) {
            assert!(
                (*got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "G^T, seed {seed}"
            );
        }
    }
}
