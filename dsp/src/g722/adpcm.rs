//! The sub-band ADPCM of ITU-T G.722: quantiser tables, scale-factor adaptation (blocks 3L/3H)
//! and the pole-zero predictor with its adaptation (block 4), in the recommendation's 16-bit
//! fixed-point arithmetic.

/// Clamps to the 16-bit range, as the recommendation's saturating arithmetic does.
#[inline]
pub(super) fn sat(x: i32) -> i32 {
    x.clamp(-32768, 32767)
}

/// Decision levels of the 6-bit low-band quantiser (QUANTL), scaled by 2^-12 of the step.
pub(super) const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219, 1339,
    1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Low-band codes for negative differences, by quantiser interval.
pub(super) const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
    4, 0,
];
/// Low-band codes for positive differences, by quantiser interval.
pub(super) const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34,
    33, 32, 0,
];
/// Low-band log scale-factor multipliers (LOGSCL), by 3-bit magnitude.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// 4-bit low-band code → WL index.
const RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse-log table of the scale factor (SCALEL/SCALEH).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025,
    3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// 4-bit low-band inverse quantiser (INVQAL; also the 48 kbit/s output quantiser).
pub(super) const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
];
/// 5-bit low-band output inverse quantiser (56 kbit/s).
pub(super) const QM5: [i32; 32] = [
    -280, -280, -23352, -17560, -14120, -11664, -9752, -8184, -6864, -5712, -4696, -3784, -2960, -2208, -1520, -880,
    23352, 17560, 14120, 11664, 9752, 8184, 6864, 5712, 4696, 3784, 2960, 2208, 1520, 880, 280, -280,
];
/// 6-bit low-band output inverse quantiser (64 kbit/s).
pub(super) const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576,
    -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040,
    -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
    4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// 2-bit high-band inverse quantiser (INVQAH).
pub(super) const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// High-band codes for negative / positive differences by interval (QUANTH).
pub(super) const IHN: [i32; 3] = [0, 1, 0];
pub(super) const IHP: [i32; 3] = [0, 3, 2];
/// High-band log scale-factor multipliers (LOGSCH).
const WH: [i32; 3] = [0, -214, 798];
/// 2-bit high-band code → WH index.
const RH2: [i32; 4] = [2, 1, 2, 1];

/// State of one sub-band's ADPCM (the same in encoder and decoder).
#[derive(Debug, Clone)]
pub(super) struct Band {
    /// Predicted signal s = sp + sz.
    pub s: i32,
    /// Pole-section prediction.
    sp: i32,
    /// Zero-section prediction.
    pub sz: i32,
    /// Reconstructed signal r(n), r(n-1), r(n-2).
    r: [i32; 3],
    /// Pole predictor coefficients a1, a2 (index 0 unused).
    a: [i32; 3],
    ap: [i32; 3],
    /// Partially reconstructed signal p(n), p(n-1), p(n-2).
    p: [i32; 3],
    /// Quantised differences d(n) .. d(n-6).
    d: [i32; 7],
    /// Zero predictor coefficients b1..b6 (index 0 unused).
    b: [i32; 7],
    bp: [i32; 7],
    /// Log scale factor.
    nb: i32,
    /// Scale factor (quantiser step).
    pub det: i32,
}

impl Band {
    /// The reset state of the low band (det = 32) or the high band (det = 8).
    pub fn new(high: bool) -> Self {
        Band {
            s: 0,
            sp: 0,
            sz: 0,
            r: [0; 3],
            a: [0; 3],
            ap: [0; 3],
            p: [0; 3],
            d: [0; 7],
            b: [0; 7],
            bp: [0; 7],
            nb: 0,
            det: if high { 8 } else { 32 },
        }
    }

    /// Blocks 3L (LOGSCL + SCALEL) for the 4-bit low-band code `il4`.
    pub fn adapt_low(&mut self, il4: usize) {
        let nb = ((self.nb * 127) >> 7) + WL[RL42[il4 & 15] as usize];
        self.nb = nb.clamp(0, 18432);
        self.det = scale(self.nb, 8);
    }

    /// Blocks 3H (LOGSCH + SCALEH) for the 2-bit high-band code `ih`.
    pub fn adapt_high(&mut self, ih: usize) {
        let nb = ((self.nb * 127) >> 7) + WH[RH2[ih & 3] as usize];
        self.nb = nb.clamp(0, 22528);
        self.det = scale(self.nb, 10);
    }

    /// Block 4: reconstruction, predictor adaptation and the next prediction, for the
    /// quantised difference `d`.
    pub fn block4(&mut self, d: i32) {
        // RECONS, PARREC
        self.d[0] = d;
        self.r[0] = sat(self.s + d);
        self.p[0] = sat(self.sz + d);

        // UPPOL2
        let sg = |x: i32| x >> 15;
        let (sg0, sg1, sg2) = (sg(self.p[0]), sg(self.p[1]), sg(self.p[2]));
        let wd1 = sat(self.a[1] << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 }.min(32767);
        let mut wd3 = (wd2 >> 7) + if sg0 == sg2 { 128 } else { -128 };
        wd3 += (self.a[2] * 32512) >> 15;
        self.ap[2] = wd3.clamp(-12288, 12288);

        // UPPOL1
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let lim = sat(15360 - self.ap[2]);
        self.ap[1] = sat(wd1 + wd2).clamp(-lim, lim);

        // UPZERO
        let step = if d == 0 { 0 } else { 128 };
        let sgd = sg(d);
        for i in 1..7 {
            let wd2 = if sg(self.d[i]) == sgd { step } else { -step };
            let wd3 = (self.b[i] * 32640) >> 15;
            self.bp[i] = sat(wd2 + wd3);
        }

        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = self.bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
            self.a[i] = self.ap[i];
        }

        // FILTEP
        let wd1 = (self.a[1] * sat(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat(self.r[2] + self.r[2])) >> 15;
        self.sp = sat(wd1 + wd2);

        // FILTEZ
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat(sz);

        // PREDIC
        self.s = sat(self.sp + self.sz);
    }
}

/// SCALEL / SCALEH: the step size from the log scale factor `nb`.
fn scale(nb: i32, shift: i32) -> i32 {
    let wd1 = ((nb >> 6) & 31) as usize;
    let wd2 = shift - (nb >> 11);
    let wd3 = if wd2 < 0 { ILB[wd1] << -wd2 } else { ILB[wd1] >> wd2 };
    wd3 << 2
}
