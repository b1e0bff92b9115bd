//! Random rotation (`data.rotation`): an image turned about its centre, sampled as
//! torchvision's `RandomRotation` samples it.

/// `img` (CHW u8) turned `degrees` counter-clockwise about its centre into `out`: each output
/// pixel takes the nearest source pixel, black where that falls outside. The sampling is
/// torchvision's `F.rotate` on a tensor (an affine grid through `grid_sample` with
/// `align_corners=False`, in f32, ties to even), so the same angle gives the same pixels.
pub fn rotate(img: &[u8], [c, h, w]: [usize; 3], degrees: f64, out: &mut Vec<u8>) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    // The inverse rotation, scaled to grid units as torchvision's _gen_affine_grid does.
    let (hw, hh) = (0.5 * w as f32, 0.5 * h as f32);
    let (a, b) = (cos as f32 / hw, -sin as f32 / hw);
    let (d, e) = (sin as f32 / hh, cos as f32 / hh);
    out.clear();
    out.resize(c * h * w, 0);
    for y in 0..h {
        let yb = -hh + 0.5 + y as f32;
        for x in 0..w {
            let xb = -hw + 0.5 + x as f32;
            let gx = xb * a + yb * b;
            let gy = xb * d + yb * e;
            let ix = (((gx + 1.0) * w as f32 - 1.0) / 2.0).round_ties_even();
            let iy = (((gy + 1.0) * h as f32 - 1.0) / 2.0).round_ties_even();
            if ix < 0.0 || iy < 0.0 || ix >= w as f32 || iy >= h as f32 {
                continue;
            }
            let (sx, sy) = (ix as usize, iy as usize);
            for ch in 0..c {
                out[ch * h * w + y * w + x] = img[ch * h * w + sy * w + sx];
            }
        }
    }
}
