//! L2-regularized logistic regression with scikit-learn's objective, fitted
//! with argmin's L-BFGS and More–Thuente line search.
//!
//! Parameters θ = (β₁ … β_p, b): the intercept b is last and unpenalized.

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};

pub use crate::error::FitError;

type Result<T> = std::result::Result<T, FitError>;

/// log(1 + e^t), without overflow for large |t|.
pub fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

/// σ(t) = 1 / (1 + e^-t), stable on both sides.
pub fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// Log loss of one row with label y ∈ {0, 1} and margin z = xβ + b:
/// y·log(1 + e^-z) + (1 − y)·log(1 + e^z).
pub fn logloss(y: f64, z: f64) -> f64 {
    y * softplus(-z) + (1.0 - y) * softplus(z)
}

/// "Balanced" class weights: w_c = n / (2·n_c), each row gets its class's.
pub fn balanced_weights(y: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
    let n = y.len() as f64;
    let (n_pos, n_neg) = class_counts(y)?;
    Ok(y.mapv(|v| {
        if v == 1.0 {
            n / (2.0 * n_pos)
        } else {
            n / (2.0 * n_neg)
        }
    }))
}

/// The positive and negative row counts; an error when one is zero.
fn class_counts(y: ArrayView1<'_, f64>) -> Result<(f64, f64)> {
    let n = y.len() as f64;
    let n_pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let n_neg = n - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return Err(FitError::OneClass {
            positive: n_pos as usize,
            negative: n_neg as usize,
        });
    }
    Ok((n_pos, n_neg))
}

/// The intercept shift that turns a "balanced" fit's scores back into
/// probabilities: ln(n₁ / n₀), the training log-odds. Balanced weights make
/// the fit see both classes as equally common (prior ½); with the prior
/// shift, logit p = logit p_balanced − logit ½ + logit(n₁ / n).
pub fn balanced_prior_offset(y: ArrayView1<'_, f64>) -> f64 {
    let n_pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    (n_pos / n_neg).ln()
}

fn margins(x: &Array2<f64>, theta: &Array1<f64>) -> Array1<f64> {
    let p = x.ncols();
    x.dot(&theta.slice(s![..p])) + theta[p]
}

/// The objective: f(θ) = C·Σᵢ wᵢ·logloss(yᵢ, xᵢβ + b) + ½‖β‖².
pub fn objective(x: &Array2<f64>, y: &Array1<f64>, w: &Array1<f64>, c: f64, theta: &Array1<f64>) -> f64 {
    let p = x.ncols();
    let z = margins(x, theta);
    let data: f64 = z
        .iter()
        .zip(y)
        .zip(w)
        .map(|((&z, &y), &w)| w * logloss(y, z))
        .sum();
    let beta = theta.slice(s![..p]);
    c * data + 0.5 * beta.dot(&beta)
}

/// Its gradient: ∂f/∂β = C·Xᵀr + β, ∂f/∂b = C·Σᵢ rᵢ, with rᵢ = wᵢ(σ(zᵢ) − yᵢ).
pub fn gradient(
    x: &Array2<f64>,
    y: &Array1<f64>,
    w: &Array1<f64>,
    c: f64,
    theta: &Array1<f64>,
) -> Array1<f64> {
    objective_and_gradient(x, y, w, c, theta).1
}

/// Hyperparameters, checked before any data is touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Inverse L2 strength, as scikit-learn's C.
    pub c: f64,
    pub max_iter: u64,
    /// Stop when the preconditioned gradient ‖L⁻¹∇f‖ / (C·Σw) falls below this.
    pub tol: f64,
    /// Class weights "balanced" (true) or all 1 (scikit-learn's `None`).
    pub balanced: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            c: 1.0,
            max_iter: 500,
            tol: 1e-7,
            balanced: false,
        }
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(FitError::BadC(self.c));
        }
        if self.max_iter == 0 {
            return Err(FitError::BadMaxIter);
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(FitError::BadTol(self.tol));
        }
        Ok(())
    }
}

/// Σᵢ wᵢ·logloss, Σᵢ rᵢ and Xᵀr over a block of rows, in one pass.
fn accumulate(
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    w: ArrayView1<'_, f64>,
    beta: ArrayView1<'_, f64>,
    b: f64,
) -> (f64, f64, Array1<f64>) {
    let mut xr = Array1::zeros(x.ncols());
    let (mut data, mut r_sum) = (0.0, 0.0);
    for ((row, &y), &w) in x.rows().into_iter().zip(y).zip(w) {
        let z = row.dot(&beta) + b;
        data += w * logloss(y, z);
        let r = w * (sigmoid(z) - y);
        r_sum += r;
        xr.scaled_add(r, &row);
    }
    (data, r_sum, xr)
}

/// Rows per block of the objective's pass. The blocks are fixed by the row
/// count alone and their sums are added in block order, so the result is the
/// same bit for bit however many threads run them and whichever runs which.
const BLOCK_ROWS: usize = 4096;

/// The objective f(β, b) = C·Σᵢ wᵢ·logloss(yᵢ, zᵢ) + ½‖β‖², zᵢ = xᵢβ + b,
/// and its gradient ∇_β f = C·Xᵀr + β, ∂f/∂b = C·Σᵢ rᵢ with
/// rᵢ = wᵢ·(σ(zᵢ) − yᵢ), from one pass over the rows (a row-major X is read
/// once, never column by column), in blocks of rows on rayon's pool.
/// Blocks, not fixed halves: when another process takes a core for a while,
/// the other thread can take the remaining blocks instead of waiting for a
/// straggling half (with fixed halves, evaluations that take 2 ms took up
/// to 0.5 s on a busy 2-core machine).
pub fn objective_and_gradient(
    x: &Array2<f64>,
    y: &Array1<f64>,
    w: &Array1<f64>,
    c: f64,
    theta: &Array1<f64>,
) -> (f64, Array1<f64>) {
    use rayon::prelude::*;
    let (n, p) = x.dim();
    let beta = theta.slice(s![..p]);
    let b = theta[p];
    let block = |k: usize| {
        let rows = k * BLOCK_ROWS..((k + 1) * BLOCK_ROWS).min(n);
        accumulate(
            x.slice(s![rows.clone(), ..]),
            y.slice(s![rows.clone()]),
            w.slice(s![rows]),
            beta,
            b,
        )
    };
    let blocks: Vec<(f64, f64, Array1<f64>)> =
        (0..n.div_ceil(BLOCK_ROWS)).into_par_iter().map(block).collect();
    let (mut data, mut r_sum, mut xr) = (0.0, 0.0, Array1::zeros(p));
    for (d, r, v) in blocks {
        data += d;
        r_sum += r;
        xr += &v;
    }
    let mut g = Array1::zeros(p + 1);
    g.slice_mut(s![..p]).assign(&(xr * c + beta));
    g[p] = c * r_sum;
    (c * data + 0.5 * beta.dot(&beta), g)
}

/// The Hessian of the objective at θ = 0 (every σ = ½), divided by `scale`:
/// (C/4·Xₐᵀ diag(w) Xₐ + diag(1, …, 1, 0)) / scale, with Xₐ = [X, 1].
fn initial_hessian(x: &Array2<f64>, w: &Array1<f64>, c: f64, scale: f64) -> Array2<f64> {
    let p = x.ncols();
    let mut h = Array2::<f64>::zeros((p + 1, p + 1));
    // In blocks of rows, so no n × p copy of X is made.
    const BLOCK: usize = 8192;
    for (xb, wb) in x
        .axis_chunks_iter(Axis(0), BLOCK)
        .zip(w.axis_chunks_iter(Axis(0), BLOCK))
    {
        let mut xa = Array2::ones((xb.nrows(), p + 1));
        xa.slice_mut(s![.., ..p]).assign(&xb);
        let weighted = &xa * &wb.mapv(|v| c * v / 4.0).insert_axis(Axis(1));
        h += &xa.t().dot(&weighted);
    }
    for j in 0..p {
        h[[j, j]] += 1.0;
    }
    h / scale
}

/// The lower Cholesky factor L of a symmetric positive-definite matrix (A = LLᵀ).
fn cholesky(a: &Array2<f64>) -> Result<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - dot;
                if !(d > 0.0 && d.is_finite()) {
                    return Err(FitError::NotPositiveDefinite(i));
                }
                l[[i, i]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - dot) / l[[j, j]];
            }
        }
    }
    Ok(l)
}

/// Solves L·v = b for lower-triangular L.
fn solve_lower(l: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    let n = b.len();
    let mut v = Array1::zeros(n);
    for i in 0..n {
        let dot: f64 = (0..i).map(|k| l[[i, k]] * v[k]).sum();
        v[i] = (b[i] - dot) / l[[i, i]];
    }
    v
}

/// Solves Lᵀ·v = b for lower-triangular L.
fn solve_upper_t(l: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    let n = b.len();
    let mut v = Array1::zeros(n);
    for i in (0..n).rev() {
        let dot: f64 = (i + 1..n).map(|k| l[[k, i]] * v[k]).sum();
        v[i] = (b[i] - dot) / l[[i, i]];
    }
    v
}

/// A point φ with the cost and gradient there.
type Evaluation = (Array1<f64>, f64, Array1<f64>);

/// The argmin problem, preconditioned: L-BFGS runs on φ = Lᵀθ, where LLᵀ is
/// the (scaled) Hessian at θ = 0, so it starts from an identity-like
/// curvature however correlated the inputs are. f̃(φ) = f(L⁻ᵀφ)/scale and
/// ∇f̃(φ) = L⁻¹∇f(θ)/scale: the same minimizer as f, in far fewer steps.
/// `scale` = C·Σw keeps the numbers independent of the row count. The line
/// search asks for the cost and then the gradient at the same point: both
/// come from one pass, kept for the next call.
struct Problem<'a> {
    x: &'a Array2<f64>,
    y: &'a Array1<f64>,
    w: &'a Array1<f64>,
    c: f64,
    scale: f64,
    l: Array2<f64>,
    last: std::sync::Mutex<Option<Evaluation>>,
}

impl Problem<'_> {
    fn theta(&self, phi: &Array1<f64>) -> Array1<f64> {
        solve_upper_t(&self.l, phi)
    }

    fn evaluate(&self, phi: &Array1<f64>) -> (f64, Array1<f64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, f, g)) = last.as_ref() {
            if at == phi {
                return (*f, g.clone());
            }
        }
        let t0 = std::time::Instant::now();
        let (f, g) = objective_and_gradient(self.x, self.y, self.w, self.c, &self.theta(phi));
        tracing::debug!(seconds = t0.elapsed().as_secs_f64(), f, "evaluated objective");
        let (f, g) = (f / self.scale, solve_lower(&self.l, &(g / self.scale)));
        *last = Some((phi.clone(), f, g.clone()));
        (f, g)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Array1<f64>;
    type Output = f64;
    fn cost(&self, phi: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.evaluate(phi).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;
    fn gradient(&self, phi: &Self::Param) -> std::result::Result<Array1<f64>, argmin::core::Error> {
        Ok(self.evaluate(phi).1)
    }
}

/// A fitted model on the design matrix's columns.
#[derive(Debug, Clone)]
pub struct Fit {
    pub coefficients: Array1<f64>,
    pub intercept: f64,
    pub iterations: u64,
    /// ‖∇f‖∞ of the unscaled objective at the solution.
    pub grad_norm: f64,
    pub converged: bool,
    pub termination: String,
    pub objective: f64,
}

impl Fit {
    pub fn predict(&self, x: &Array2<f64>) -> Array1<f64> {
        (x.dot(&self.coefficients) + self.intercept).mapv(sigmoid)
    }
}

/// Fits β and b on `x` (n × p) and labels `y` ∈ {0, 1}.
pub fn fit(x: &Array2<f64>, y: &Array1<f64>, params: &Params) -> Result<Fit> {
    params.validate()?;
    if x.nrows() != y.len() {
        return Err(FitError::Shape {
            rows: x.nrows(),
            labels: y.len(),
        });
    }
    if x.nrows() == 0 {
        return Err(FitError::NoRows);
    }
    if let Some(bad) = y.iter().find(|&&v| v != 0.0 && v != 1.0) {
        return Err(FitError::BadLabel(*bad));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(FitError::NonFinite);
    }
    class_counts(y.view())?;
    let w = if params.balanced {
        balanced_weights(y.view())?
    } else {
        Array1::ones(y.len())
    };
    let scale = params.c * w.sum();
    let factor = cholesky(&initial_hessian(x, &w, params.c, scale))?;
    let problem = Problem {
        x,
        y,
        w: &w,
        c: params.c,
        scale,
        l: factor.clone(),
        last: std::sync::Mutex::new(None),
    };
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, 10)
        .with_tolerance_grad(params.tol)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(|e| FitError::Solver(format!("setting up: {e}")))?;
    let theta0 = Array1::zeros(x.ncols() + 1);
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(theta0).max_iters(params.max_iter))
        .run()
        .map_err(|e| FitError::Solver(e.to_string()))?;
    let state = result.state();
    let phi = state
        .get_best_param()
        .or(state.get_param())
        .ok_or_else(|| FitError::Solver("no parameters were returned".into()))?;
    let theta = solve_upper_t(&factor, phi);
    let (termination, converged) = match state.get_termination_status() {
        TerminationStatus::Terminated(reason) => (
            reason.text().to_string(),
            matches!(reason, TerminationReason::SolverConverged),
        ),
        TerminationStatus::NotTerminated => ("not terminated".to_string(), false),
    };
    let (objective, g) = objective_and_gradient(x, y, &w, params.c, &theta);
    let grad_norm = g.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let p = x.ncols();
    Ok(Fit {
        coefficients: theta.slice(s![..p]).to_owned(),
        intercept: theta[p],
        iterations: state.get_iter(),
        grad_norm,
        converged,
        termination,
        objective,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{Array, array};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::Value;

    fn reference() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/sklearn_reference.json")).unwrap()
    }

    fn vec_of(v: &Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn problem() -> (Array2<f64>, Array1<f64>, f64, Value) {
        let r = reference();
        let m = &r["model"];
        let rows: Vec<Vec<f64>> = m["x"].as_array().unwrap().iter().map(vec_of).collect();
        let x = Array2::from_shape_vec((rows.len(), 3), rows.concat()).unwrap();
        let y = Array1::from(vec_of(&m["y"]));
        (x, y, m["c"].as_f64().unwrap(), m.clone())
    }

    fn theta(beta: &[f64], b: f64) -> Array1<f64> {
        let mut t = beta.to_vec();
        t.push(b);
        Array1::from(t)
    }

    #[test]
    fn stable_functions_do_not_overflow() {
        assert_abs_diff_eq!(softplus(0.0), 2f64.ln(), epsilon = 1e-15);
        assert_abs_diff_eq!(softplus(800.0), 800.0, epsilon = 1e-12);
        assert_abs_diff_eq!(softplus(-800.0), 0.0, epsilon = 1e-300);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_abs_diff_eq!(logloss(1.0, -40.0), 40.0, epsilon = 1e-12);
    }

    #[test]
    fn balanced_weights_match_scikit_learn() {
        let (_, y, _, m) = problem();
        let w = balanced_weights(y.view()).unwrap();
        for (a, b) in w.iter().zip(vec_of(&m["sample_weight"])) {
            assert_abs_diff_eq!(*a, b, epsilon = 1e-12);
        }
    }

    #[test]
    fn objective_matches_scikit_learn_at_a_probe_point() {
        let (x, y, c, m) = problem();
        let w = balanced_weights(y.view()).unwrap();
        let probe = &m["probe"];
        let t = theta(&vec_of(&probe["beta"]), probe["intercept"].as_f64().unwrap());
        let expected = probe["objective"].as_f64().unwrap();
        assert_abs_diff_eq!(objective(&x, &y, &w, c, &t), expected, epsilon = 1e-9 * expected);
    }

    #[test]
    fn cholesky_and_triangular_solves() {
        let a = array![[4.0, 2.0, 0.4], [2.0, 5.0, 1.0], [0.4, 1.0, 3.0]];
        let l = cholesky(&a).unwrap();
        let back = l.dot(&l.t());
        for (x, y) in back.iter().zip(a.iter()) {
            assert_abs_diff_eq!(*x, *y, epsilon = 1e-12);
        }
        let b = array![1.0, -2.0, 0.5];
        let v = solve_lower(&l, &b);
        for (x, y) in l.dot(&v).iter().zip(b.iter()) {
            assert_abs_diff_eq!(*x, *y, epsilon = 1e-12);
        }
        let v = solve_upper_t(&l, &b);
        for (x, y) in l.t().dot(&v).iter().zip(b.iter()) {
            assert_abs_diff_eq!(*x, *y, epsilon = 1e-12);
        }
        assert!(cholesky(&array![[1.0, 2.0], [2.0, 1.0]]).is_err());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y, c, m) = problem();
        let w = balanced_weights(y.view()).unwrap();
        let probe = &m["probe"];
        let t = theta(&vec_of(&probe["beta"]), probe["intercept"].as_f64().unwrap());
        let g = gradient(&x, &y, &w, c, &t);
        let h = 1e-6;
        for k in 0..t.len() {
            let (mut up, mut down) = (t.clone(), t.clone());
            up[k] += h;
            down[k] -= h;
            let numeric = (objective(&x, &y, &w, c, &up) - objective(&x, &y, &w, c, &down)) / (2.0 * h);
            assert_abs_diff_eq!(g[k], numeric, epsilon = 1e-6 * (1.0 + numeric.abs()));
        }
    }

    #[test]
    fn fit_matches_scikit_learn_and_its_gradient_vanishes_there() {
        let (x, y, c, m) = problem();
        for (name, balanced) in [("balanced", true), ("unweighted", false)] {
            let params = Params {
                c,
                balanced,
                ..Params::default()
            };
            let fit = fit(&x, &y, &params).unwrap();
            assert!(fit.converged, "{name}: {}", fit.termination);
            let reference = &m["fits"][name];
            for (a, b) in fit.coefficients.iter().zip(vec_of(&reference["coef"])) {
                assert_abs_diff_eq!(*a, b, epsilon = 1e-6);
            }
            let b = reference["intercept"].as_f64().unwrap();
            assert_abs_diff_eq!(fit.intercept, b, epsilon = 1e-6);
            // scikit-learn's optimum is a stationary point of our objective.
            let w = if balanced {
                balanced_weights(y.view()).unwrap()
            } else {
                Array1::ones(y.len())
            };
            let g = gradient(&x, &y, &w, c, &theta(&vec_of(&reference["coef"]), b));
            assert!(g.iter().all(|v| v.abs() < 1e-6), "{name}: gradient {g}");
        }
        assert_abs_diff_eq!(
            fit(
                &x,
                &y,
                &Params {
                    c,
                    balanced: true,
                    ..Params::default()
                }
            )
            .unwrap()
            .objective,
            m["objective_at_balanced_fit"].as_f64().unwrap(),
            epsilon = 1e-9
        );
    }

    #[test]
    fn blocked_pass_matches_the_plain_formulas_and_ignores_the_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (n, p) = (3 * BLOCK_ROWS + 17, 4);
        let x = Array::from_shape_fn((n, p), |_| rng.random::<f64>() * 4.0 - 2.0);
        let y = Array::from_shape_fn(n, |_| f64::from(u8::from(rng.random::<f64>() < 0.3)));
        let w = Array::from_shape_fn(n, |_| 0.5 + rng.random::<f64>());
        let theta = array![0.7, -1.2, 0.05, 2.0, -0.4];
        let c = 0.8;
        let (f, g) = objective_and_gradient(&x, &y, &w, c, &theta);
        assert_abs_diff_eq!(f, objective(&x, &y, &w, c, &theta), epsilon = 1e-9 * f.abs());
        // The gradient written out row by row: C·Σ rᵢxᵢ + β and C·Σ rᵢ.
        let mut want = Array1::<f64>::zeros(p + 1);
        for i in 0..n {
            let z: f64 = (0..p).map(|j| x[[i, j]] * theta[j]).sum::<f64>() + theta[p];
            let r = w[i] * (sigmoid(z) - y[i]);
            for j in 0..p {
                want[j] += c * r * x[[i, j]];
            }
            want[p] += c * r;
        }
        for j in 0..p {
            want[j] += theta[j];
        }
        for (a, b) in g.iter().zip(&want) {
            assert_abs_diff_eq!(*a, *b, epsilon = 1e-9 * b.abs().max(1.0));
        }
        // Bit for bit the same on one thread as on the default pool.
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let (f1, g1) = single.install(|| objective_and_gradient(&x, &y, &w, c, &theta));
        assert_eq!(f1.to_bits(), f.to_bits());
        assert_eq!(g1, g);
    }

    #[test]
    fn recovers_known_weights_on_a_large_synthetic_problem() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 20_000;
        let truth = [2.0, -1.0, 0.0];
        let b = -0.5;
        let x = Array::from_shape_fn((n, 3), |_| rng.random::<f64>() * 2.0 - 1.0);
        let y: Array1<f64> = x
            .rows()
            .into_iter()
            .map(|r| {
                let z = r.dot(&array![truth[0], truth[1], truth[2]]) + b;
                if rng.random::<f64>() < sigmoid(z) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let fit = fit(
            &x,
            &y,
            &Params {
                c: 1e4,
                balanced: false,
                ..Params::default()
            },
        )
        .unwrap();
        for (est, t) in fit.coefficients.iter().zip(truth) {
            assert_abs_diff_eq!(*est, t, epsilon = 0.1);
        }
        assert_abs_diff_eq!(fit.intercept, b, epsilon = 0.1);
    }

    #[test]
    fn class_weights_move_the_solution_as_the_optimum_conditions_say() {
        // With an unpenalized intercept, ∂f/∂b = 0 gives Σ wᵢ pᵢ = Σ wᵢ yᵢ: the
        // weighted mean risk is the weighted base rate, 1/2 when balanced.
        let (x, y, c, _) = problem();
        let base_rate = y.mean().unwrap();
        assert!(base_rate < 0.45, "the fixture is imbalanced: {base_rate}");
        let plain = fit(
            &x,
            &y,
            &Params {
                c,
                balanced: false,
                ..Params::default()
            },
        )
        .unwrap();
        assert_abs_diff_eq!(plain.predict(&x).mean().unwrap(), base_rate, epsilon = 1e-7);
        let balanced = fit(
            &x,
            &y,
            &Params {
                c,
                balanced: true,
                ..Params::default()
            },
        )
        .unwrap();
        let w = balanced_weights(y.view()).unwrap();
        let p = balanced.predict(&x);
        assert_abs_diff_eq!((&p * &w).sum() / w.sum(), 0.5, epsilon = 1e-7);
        assert!(balanced.intercept > plain.intercept);
        // The prior shift: odds × n₁/n₀, so the corrected mean risk comes
        // back near the base rate (not exactly: the fit is not the plain one).
        let offset = balanced_prior_offset(y.view());
        let n_pos = y.sum();
        assert_abs_diff_eq!(offset, (n_pos / (y.len() as f64 - n_pos)).ln(), epsilon = 1e-15);
        let corrected = Fit {
            intercept: balanced.intercept + offset,
            ..balanced.clone()
        }
        .predict(&x);
        for (pb, pc) in p.iter().zip(&corrected) {
            let odds = |q: f64| q / (1.0 - q);
            assert_abs_diff_eq!(
                odds(*pc),
                odds(*pb) * n_pos / (y.len() as f64 - n_pos),
                epsilon = 1e-9
            );
        }
        let mean = corrected.mean().unwrap();
        assert!(
            (mean - base_rate).abs() < 0.1,
            "corrected mean {mean}, base rate {base_rate}"
        );
    }

    #[test]
    fn bad_parameters_and_inputs_are_refused() {
        let (x, y, _, _) = problem();
        assert!(
            fit(
                &x,
                &y,
                &Params {
                    c: 0.0,
                    ..Params::default()
                }
            )
            .is_err()
        );
        assert!(
            fit(
                &x,
                &y,
                &Params {
                    max_iter: 0,
                    ..Params::default()
                }
            )
            .is_err()
        );
        let ones = Array1::ones(y.len());
        let err = fit(&x, &ones, &Params::default()).unwrap_err();
        assert!(err.to_string().contains("one class only"), "{err}");
        let short = y.slice(s![..10]).to_owned();
        assert_eq!(
            fit(&x, &short, &Params::default()).unwrap_err(),
            FitError::Shape { rows: 60, labels: 10 }
        );
    }
}
