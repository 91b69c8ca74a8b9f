# Golden values from R gKRLS + mgcv for models where a smoothing parameter sits at its
# limit (sp -> infinity): a spline with no signal or only a linear one (edf -> 1, the
# dimension of its penalty null space after the sum-to-zero constraint), and a random
# effect with zero true variance (edf -> 0).
#
# Run from the repository root:   Rscript tests/golden/make_gkrls_limit_golden.R
# Needs R with mgcv, jsonlite and gKRLS installed in /opt/rlib (see tests/golden/install_r.sh).
#
# Writes tests/golden/gkrls_limit.json.
#
# Conventions follow tests/golden/make_gkrls_golden.R: input data are rounded with
# signif(, 15) so they survive the JSON round trip bit for bit; custom sketch indices are
# drawn in R (1-based) and stored 0-based under sketch_indices$krls1; matrices row-major.
#
# mgcv's outer Newton stops once the REML gradient is small, which for a term at its limit
# happens at a large but finite sp (edf ~1e-4..1e-2 away from the limit). Each case
# therefore also stores
#   - limit_terms: which smooths (in sp order) are at their limit by design, and their
#     limiting edf; the script stops if R's edf is not within LIMIT_EDF_TOL of it;
#   - limit_profile: the fit refitted with the at-limit sp fixed at R's sp times 1e2, 1e4,
#     1e6 and the other sp re-estimated; its -REML score must not increase (checked here),
#     i.e. the optimum is at sp = infinity, not at an interior point R stopped near;
#   - limit_fit: the 1e6 refit in full (predictions, score, edf, sp): the limit itself to
#     ~1e-6 in edf.
# The seeds are the first of 1, 2, ... for which R's fit is at the limit (with zero true
# variance or no signal the REML optimum is at the boundary only with some probability).

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(gKRLS)
  library(jsonlite)
})

t_start <- proc.time()[["elapsed"]]
source(file.path("tests", "golden", "golden_helpers.R"))

N_NEW <- 30
LIMIT_EDF_TOL <- 0.01          # R's edf must be this close to the limit (R stops early)
PROFILE_MULT <- c(1e2, 1e4, 1e6)

# ----------------------------------------------------------------------------- DGPs
dgp_null_spline <- function(n) {     # (a) y does not depend on x3
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(runif(n))
  y <- r15(sin(x1) + 0.5 * x2^2 + rnorm(n, 0, 0.5))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3)
}

dgp_linear_spline <- function(n) {   # (b) y linear in x1
  x1 <- r15(runif(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  y <- r15(1.5 * x1 + sin(x2) * cos(x3) + rnorm(n, 0, 0.5))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3)
}

g15 <- sprintf("g%02d", 1:15)
dgp_gaussian_re0 <- function(n) {    # (c) re(g) with zero true variance
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  g <- factor(sample(g15, n, replace = TRUE), levels = g15)
  y <- r15(0.5 * x1 + sin(x2) + 0.5 * x3^2 + rnorm(n))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3, g = g)
}

g50 <- sprintf("g%02d", 1:50)
dgp_poisson_re0 <- function(n) {     # (d) poisson, re(g) with zero true variance
  x <- r15(runif(n))
  g <- factor(sample(g50, n, replace = TRUE), levels = g50)
  cnt <- rpois(n, exp(0.5 + 0.7 * sin(2 * pi * x)))
  data.frame(c = as.numeric(cnt), x = x, g = g)
}

dgp_binomial_linear <- function(n) { # (e) binomial, no effect of x1 beyond linear
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  y <- rbinom(n, 1, plogis(0.8 * x1 + sin(x2) + 0.5 * x2 * x3 - 0.2))
  data.frame(y = as.numeric(y), x1 = x1, x2 = x2, x3 = x3)
}

# ----------------------------------------------------------------------------- helpers
smooth_edf <- function(fit) {
  vapply(fit$smooth, function(sm) sum(fit$edf[sm$first.para:sm$last.para]), 0)
}

fit_summary <- function(fit, newdata) {
  pl <- predict(fit, newdata = newdata, type = "link")
  pr <- predict(fit, newdata = newdata, type = "response")
  list(
    sp = I(unname(fit$sp)),
    edf_by_smooth = I(unname(smooth_edf(fit))),
    edf_total = sum(fit$edf),
    reml = as.numeric(fit$gcv.ubre),
    scale = fit$scale,
    coefficients = I(unname(coef(fit))),
    fitted = I(unname(fit$fitted.values)),
    linear_predictors = I(unname(fit$linear.predictors)),
    predict_link = I(unname(as.numeric(pl))),
    predict_response = I(unname(as.numeric(pr))),
    converged = fit$converged,
    outer_info = list(conv = fit$outer.info$conv, iter = fit$outer.info$iter)
  )
}

# limit: one entry per smooth (in sp order), NA where the sp is interior (estimated)
fit_case <- function(name, seed, dgp, n, formula_py, formula_r, n_krls, family, limit) {
  set.seed(seed)
  data <- dgp(n)
  newdata <- dgp(N_NEW)
  idx_list <- draw_sketches(n, n_krls, environment())
  fml <- as.formula(formula_r, env = environment())
  fit <- gam(fml, data = data, family = family, method = "REML")
  labels <- vapply(fit$smooth, function(s) s$label, "")
  stopifnot(length(limit) == length(fit$sp))
  at <- !is.na(limit)
  edf <- smooth_edf(fit)
  if (any(abs(edf[at] - limit[at]) > LIMIT_EDF_TOL))
    stop(name, ": R's edf ", paste(signif(edf[at], 6), collapse = ","),
         " is not at the limit ", paste(limit[at], collapse = ","))

  # profile towards sp = infinity: fix the at-limit sp, re-estimate the others
  profile <- list()
  last <- as.numeric(fit$gcv.ubre)
  for (m in PROFILE_MULT) {
    sp_fix <- ifelse(at, fit$sp * m, -1)
    f2 <- gam(fml, data = data, family = family, method = "REML", sp = sp_fix)
    r2 <- as.numeric(f2$gcv.ubre)
    if (r2 > last + 1e-9 * abs(last))
      stop(name, ": -REML rises from ", last, " to ", r2, " at sp multiplier ", m)
    last <- r2
    profile[[length(profile) + 1]] <- list(sp_multiplier = m, sp = I(unname(f2$sp)),
                                           edf_by_smooth = I(unname(smooth_edf(f2))), reml = r2)
    f_lim <- f2
  }

  case <- list(
    formula_py = formula_py,
    formula_r = formula_r,
    family = family$family,
    link = family$link,
    n = n,
    seed = seed,
    data = df_to_list(data),
    newdata = df_to_list(newdata)
  )
  if (length(idx_list) > 0) case$sketch_indices <- idx_list
  case <- c(case, list(
    smooth_labels = I(labels),
    sp_names = I(names(fit$sp)),
    limit_terms = I(labels[at]),
    limit_edf = I(ifelse(at, limit, NA)),   # JSON null where interior
    coef_names = I(names(coef(fit)))
  ), fit_summary(fit, newdata), list(
    limit_profile = profile,
    limit_fit = fit_summary(f_lim, newdata)
  ))
  for (nm in names(data)) if (is.numeric(data[[nm]])) {
    back <- fromJSON(toJSON(data[[nm]], digits = NA))
    if (!identical(as.numeric(back), as.numeric(data[[nm]]))) stop("data column ", nm, " does not round-trip")
  }
  cat(sprintf("%-20s n=%d sp=%s edf=%s reml=%.10g | limit fit: edf=%s reml=%.10g max|dpred|=%.2e\n",
              name, n, paste(signif(fit$sp, 4), collapse = ","),
              paste(signif(edf, 7), collapse = ","), fit$gcv.ubre,
              paste(signif(smooth_edf(f_lim), 7), collapse = ","), f_lim$gcv.ubre,
              max(abs(case$predict_link - case$limit_fit$predict_link))))
  case
}

krls <- function(a, b) sprintf('s(%s, %s, bs = "gKRLS", xt = gKRLS(sketch_method = idx1))', a, b)

# ----------------------------------------------------------------------------- cases
cases <- list()

cases$null_spline <- fit_case("null_spline", 1, dgp_null_spline, 400,
  'y ~ s(x3, bs="cr", k=10) + krls(x1, x2)',
  paste('y ~ s(x3, bs = "cr", k = 10) +', krls("x1", "x2")), 1, gaussian(),
  limit = c(1, NA))

cases$linear_spline <- fit_case("linear_spline", 1, dgp_linear_spline, 400,
  'y ~ s(x1, bs="cr", k=10) + krls(x2, x3)',
  paste('y ~ s(x1, bs = "cr", k = 10) +', krls("x2", "x3")), 1, gaussian(),
  limit = c(1, NA))

cases$gaussian_re0 <- fit_case("gaussian_re0", 1, dgp_gaussian_re0, 400,
  'y ~ x1 + krls(x2, x3) + re(g)',
  paste('y ~ x1 +', krls("x2", "x3"), '+ s(g, bs = "re")'), 1, gaussian(),
  limit = c(NA, 0))

cases$poisson_re0 <- fit_case("poisson_re0", 4, dgp_poisson_re0, 2000,
  'c ~ s(x, bs="cr", k=10) + re(g)',
  'c ~ s(x, bs = "cr", k = 10) + s(g, bs = "re")', 0, poisson(),
  limit = c(NA, 0))

cases$binomial_linear <- fit_case("binomial_linear", 1, dgp_binomial_linear, 500,
  'y ~ s(x1, bs="cr", k=10) + krls(x2, x3)',
  paste('y ~ s(x1, bs = "cr", k = 10) +', krls("x2", "x3")), 1, binomial(),
  limit = c(1, NA))

golden <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  gkrls_version = as.character(packageVersion("gKRLS")),
  generated_by = "tests/golden/make_gkrls_limit_golden.R",
  cases = cases
)
out_file <- file.path(out_dir, "gkrls_limit.json")
write_json(golden, out_file, digits = NA, auto_unbox = TRUE, na = "null")
cat(sprintf("wrote %s (%.2f MB) in %.1f s\n", out_file, file.size(out_file) / 2^20,
            proc.time()[["elapsed"]] - t_start))
