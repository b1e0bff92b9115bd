//! Adamax, NAdam and RAdam against torch.optim, on the batch and start of main.rs's script,
//! with these lines added to it (torch 2.15.0, CPU, float32; `steps` and `onecycle` are
//! new arguments of its `run`: the step count, and OneCycleLR(opt, max_lr=lr,
//! total_steps=steps) stepped after each step, as in one_cycle_cycles_momentum_and_beta1):
//!
//! ```python
//! run(lambda p: O.Adamax(p, lr=0.05))
//! run(lambda p: O.Adamax(p, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.01))
//! run(lambda p: O.NAdam(p, lr=0.05))
//! run(lambda p: O.NAdam(p, lr=0.05, betas=(0.8, 0.99), momentum_decay=0.01, weight_decay=0.01))
//! run(lambda p: O.RAdam(p, lr=0.05), steps=8)      # rectified from step 6 on
//! run(lambda p: O.RAdam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01), steps=8)
//! run(lambda p: O.Adamax(p, lr=0.05), steps=8, onecycle=True)   # and NAdam, RAdam
//! ```

use crate::{assert_close, assert_matches_pytorch, scheduled_steps};

#[test]
fn adamax_matches_pytorch() {
    assert_matches_pytorch(
        "name = \"adamax\"\nlr = 0.05",
        [
            -0.2730585, 0.1728932, -0.1146875, -0.2550449, 0.5915649, 0.319229, 0.0252439,
            -0.3903077, 0.1796261, 0.1633918, -0.1130468, 0.4456162, -0.0375, -0.1002984,
            0.1899725,
        ],
    );
    // The betas, a large eps (the dead input's steps shrink) and the L2 penalty.
    assert_matches_pytorch(
        "name = \"adamax\"\nlr = 0.05\nbeta1 = 0.8\nbeta2 = 0.99\neps = 1e-3\nweight_decay = 0.01",
        [
            -0.2753869, 0.1767989, -0.1128656, -0.1566333, 0.5470538, 0.3035208, 0.0141081,
            -0.2856349, 0.1818572, 0.1497615, -0.1149406, 0.3391335, -0.0369028, -0.1079915,
            0.1896574,
        ],
    );
}

#[test]
fn nadam_matches_pytorch() {
    assert_matches_pytorch(
        "name = \"nadam\"\nlr = 0.05",
        [
            -0.2891721, 0.179934, -0.0959093, -0.2553213, 0.5950917, 0.301128, 0.0085954,
            -0.3916925, 0.1968863, 0.1679646, -0.1323265, 0.4472382, -0.0203783, -0.1182003,
            0.1718297,
        ],
    );
    assert_matches_pytorch(
        "name = \"nadam\"\nlr = 0.05\nbeta1 = 0.8\nbeta2 = 0.99\nmomentum_decay = 0.01\n\
         weight_decay = 0.01",
        [
            -0.278954, 0.1696066, -0.1065047, -0.1291808, 0.6124365, 0.3097611, 0.0175365,
            -0.2670937, 0.1868076, 0.1789287, -0.1215631, 0.3232138, -0.0306201, -0.1075291,
            0.1822167,
        ],
    );
}

#[test]
fn radam_matches_pytorch_before_and_after_its_rectification() {
    let cases: [(&str, [f32; 15]); 2] = [
        (
            "name = \"radam\"\nlr = 0.05",
            [
                -0.3862942, 0.3053843, 0.0067882, -0.2571371, 0.4636055, 0.1786398, -0.1063133,
                -0.3999719, 0.2989927, 0.0351635, -0.2384822, 0.457109, 0.0477323, -0.1923608,
                0.0994081,
            ],
        ),
        (
            "name = \"radam\"\nlr = 0.05\nbeta1 = 0.8\nbeta2 = 0.99\neps = 1e-6\nweight_decay = 0.01",
            [
                -0.3752679, 0.2938803, -0.0036601, -0.2411637, 0.4737731, 0.1887819, -0.0955947,
                -0.3836411, 0.2880591, 0.0460632, -0.2274581, 0.4406361, 0.0373441, -0.1818455,
                0.1094636,
            ],
        ),
    ];
    for (optimizer, torch) in cases {
        assert_close(optimizer, &scheduled_steps(optimizer, "", 8), torch);
    }
}

/// OneCycleLR cycles their beta1 as it cycles Adam's (PyTorch's OneCycleLR accepts any
/// optimizer with betas); NAdam's mu_product takes each step's beta1.
#[test]
fn one_cycle_cycles_their_beta1_as_pytorch() {
    let cases: [(&str, [f32; 15]); 3] = [
        (
            "adamax",
            [
                -0.2688152, 0.1669753, -0.122635, -0.254907, 0.5973591, 0.3282383, 0.0329044,
                -0.3897129, 0.1739581, 0.1665269, -0.105035, 0.4449017, -0.0441401, -0.0989706,
                0.1969602,
            ],
        ),
        (
            "nadam",
            [
                -0.287382, 0.1676969, -0.1028966, -0.2551808, 0.6096132, 0.3104191, 0.0154257,
                -0.3911093, 0.1932665, 0.1837846, -0.1252944, 0.4465311, -0.0256074, -0.1138959,
                0.1774273,
            ],
        ),
        (
            "radam",
            [
                -0.3943888, 0.3114892, 0.0186911, -0.2571421, 0.4586376, 0.1733531, -0.1119307,
                -0.3999964, 0.3078425, 0.0301071, -0.2489563, 0.4571385, 0.073357, -0.1977601,
                0.0750615,
            ],
        ),
    ];
    for (name, torch) in cases {
        let optimizer = format!("name = \"{name}\"\nlr = 0.05");
        let got = scheduled_steps(&optimizer, "name = \"onecycle\"", 8);
        assert_close(&format!("onecycle, {name}"), &got, torch);
    }
}
