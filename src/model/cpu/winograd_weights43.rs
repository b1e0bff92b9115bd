//! The F(4x4, 3x3) weight transforms: U = G w G^T (6x6 per filter) and dw = G^T dU G, in
//! blocks of filters as `winograd_weights.rs` does F(2x2, 3x3)'s: within a block the nine
//! weights and the 36 tile positions are each a run across filters, so each step is one
//! vectorized lane loop (`winograd_points43.rs`).

use super::winograd_points43::{each, g6, gt3, lane, lanes};

/// Filters per block (both transforms): the 9 + 36 runs of a block stay in L1 and still
/// fill the vector lanes.
pub(super) const BLOCK: usize = 128;

wide! {
    /// U of one block's filters: `w` holds them as [filter][9], `u` gets the 36 tile positions.
    pub(super) fn weight_tiles_block(w: &[f32], u: &mut [&mut [f32]]) {
        let n = w.len() / 9;
        let mut t = [[0.0f32; BLOCK]; 9];
        for (f, wf) in w.chunks_exact(9).enumerate() {
            (0..9).for_each(|k| t[k][f] = wf[k]);
        }
        // cols[j][i] = (G w[., j])[i], then U[i][l] = (cols[., i] G^T)[l].
        let mut cols = [[[0.0f32; BLOCK]; 6]; 3];
        for (j, col) in cols.iter_mut().enumerate() {
            let ins = [&t[j][..n], &t[3 + j][..n], &t[6 + j][..n]];
            lanes!(ins, col.each_mut().map(|c| &mut c[..n]), g6, [0, 1, 2, 3, 4, 5]);
        }
        for i in 0..6 {
            let ins = [&cols[0][i][..n], &cols[1][i][..n], &cols[2][i][..n]];
            let ui: &mut [&mut [f32]; 6] = (&mut u[6 * i..6 * i + 6]).try_into().unwrap();
            lanes!(ins, ui.each_mut().map(|r| &mut r[..n]), g6, [0, 1, 2, 3, 4, 5]);
        }
    }
}

wide! {
    /// dw of one block's filters from their 36 runs of dU; `dw` gets them as [filter][9].
    pub(super) fn weight_grad_block(du: &[&[f32]], dw: &mut [f32]) {
        let n = dw.len() / 9;
        // rows[j][a] = (G^T dU[., j])[a], then dw[a][b] = (rows[., a] G)[b].
        let mut rows = [[[0.0f32; BLOCK]; 3]; 6];
        for (j, row) in rows.iter_mut().enumerate() {
            let ins = each!(i in [0, 1, 2, 3, 4, 5] => &du[6 * i + j][..n]);
            lanes!(ins, row.each_mut().map(|r| &mut r[..n]), gt3, [0, 1, 2]);
        }
        let mut t = [[0.0f32; BLOCK]; 9];
        for a in 0..3 {
            let ins = each!(j in [0, 1, 2, 3, 4, 5] => &rows[j][a][..n]);
            let ta: &mut [[f32; BLOCK]; 3] = (&mut t[3 * a..3 * a + 3]).try_into().unwrap();
            lanes!(ins, ta.each_mut().map(|r| &mut r[..n]), gt3, [0, 1, 2]);
        }
        for (f, out) in dw.chunks_exact_mut(9).enumerate() {
            (0..9).for_each(|k| out[k] = t[k][f]);
        }
    }
}
