# Golden values from R mgcv 1.8-41 for gam(..., method = "ML") (and its REML twin where a
# comparison needs one): Gaussian models with several smooths and a parametric factor,
# prior weights, overlapping penalties (te), a smooth whose smoothing parameter runs to
# infinity, fixed smoothing parameters up to 1e15, Poisson and Gamma GLMs, and the
# extended families ocat and nb (gam.fit4 with the ML log-determinant, C MLpenalty1).
# multinom (a general family, gam.fit5) is fitted by REML whatever method says: its case
# records mgcv's fit$method ("REML") and the REML score.
#
# Run from the repository root:   Rscript tests/golden/make_method_ml_golden.R
# Needs R with mgcv and jsonlite installed in /opt/rlib (see tests/golden/install_r.sh).
# Writes tests/golden/method_ml.json; takes a few seconds. Deterministic.
#
# ------------------------------------------------------------------------------ JSON layout
# Top level: r_version, mgcv_version, generated_by, notes, cases = { <name>: <case> }.
# Every <case> has
#   description, family (our name), family_r (the R call), link (fit$family$link, absent
#   for multinom), method (what gam() was asked for), method_fitted (fit$method),
#   formula_py (string, or list of strings for multinom), formula_r, n, n_new, seed,
#   data, newdata (column -> array; factors as strings), factor_levels (column -> levels),
#   weights_column (column of data holding prior weights, or absent), sp_fixed (the sp
#   passed to gam(), or absent)
# and R's results:
#   coefficients, coef_names, sp, sp_names (fit$sp; fit$full.sp when sp_fixed), edf_by_smooth (label -> summary edf), edf,
#   edf_total, reml (fit$gcv.ubre: the ML score for method_fitted == "ML"),
#   reml_scale (fit$reml.scale: the scale the criterion profiles; NA -> absent),
#   scale (fit$scale: mgcv's scale.est, used in Vp), deviance, converged,
#   outer_info {conv, iter}, fitted_link (training data), predict_link, predict_link_se,
#   predict_response (newdata; rows of probabilities for ocat / multinom),
#   family_params (ocat: cut_points; nb: theta), reml_twin (the same model fitted with
#   method = "REML": reml, sp) for the cases that carry one.
# Matrices are written row-major (one JSON array per row).

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(jsonlite)
})

t_start <- proc.time()[["elapsed"]]
source(file.path("tests", "golden", "golden_helpers.R"))

N_NEW <- 8
r6 <- function(x) round(x, 6)

# ----------------------------------------------------------------------------- DGPs
f_levels <- c("a", "b", "c")
dgp_two_smooths <- function(n) {
  x1 <- r6(runif(n)); x2 <- r6(runif(n))
  f <- factor(sample(f_levels, n, replace = TRUE), levels = f_levels)
  w <- r6(runif(n, 0.5, 2))
  y <- r6(c(0, 0.4, -0.3)[as.integer(f)] + sin(2 * pi * x1) + exp(1.5 * x2) / 3 +
          rnorm(n, 0, 0.3) / sqrt(w))
  data.frame(y = y, x1 = x1, x2 = x2, f = f, w = w)
}

dgp_linear_x2 <- function(n) {   # the x2 effect is exactly linear: s(x2)'s sp -> infinity
  x1 <- r6(runif(n)); x2 <- r6(runif(n))
  y <- r6(sin(2 * pi * x1) + 0.8 * x2 + rnorm(n, 0, 0.3))
  data.frame(y = y, x1 = x1, x2 = x2)
}

dgp_tensor <- function(n) {
  x1 <- r6(runif(n)); x2 <- r6(runif(n, 0, 2))
  y <- r6(sin(2 * pi * x1) + 0.5 * x2^2 + 0.8 * cos(2 * pi * x1) * (x2 - 1)^2 + rnorm(n, 0, 0.3))
  data.frame(y = y, x1 = x1, x2 = x2)
}

dgp_poisson <- function(n) {
  x <- r6(runif(n)); z <- r6(rnorm(n))
  y <- rpois(n, exp(0.5 + sin(2 * pi * x) + 0.3 * z))
  data.frame(y = as.numeric(y), x = x, z = z)
}

dgp_gamma <- function(n) {
  x <- r6(runif(n))
  mu <- exp(0.5 + sin(2 * pi * x))
  y <- r6(rgamma(n, shape = 4, rate = 4 / mu))
  data.frame(y = y, x = x)
}

ocat_cuts <- c(-1, 0.2, 1.4)
dgp_ocat <- function(n) {
  x <- r6(runif(n)); z <- r6(rnorm(n))
  ystar <- 0.3 + 1.2 * sin(2 * pi * x) + 0.8 * z + rlogis(n)
  data.frame(y = as.numeric(1 + findInterval(ystar, ocat_cuts)), x = x, z = z)
}

dgp_nb <- function(n) {
  x <- r6(runif(n))
  y <- rnbinom(n, size = 3, mu = exp(1 + sin(2 * pi * x)))
  data.frame(y = as.numeric(y), x = x)
}

dgp_multinom <- function(n) {
  x1 <- r6(runif(n)); x2 <- r6(runif(n)); z <- r6(rnorm(n))
  eta <- cbind(0.2 + 1.5 * sin(2 * pi * x1) + 0.7 * z, -0.6 + 6 * (x2 - 0.5)^2 - 0.6 * z)
  p <- cbind(1, exp(eta)); p <- p / rowSums(p)
  y <- apply(p, 1, function(pr) sample(0:2, 1, prob = pr))
  data.frame(y = as.numeric(y), x1 = x1, x2 = x2, z = z)
}

# ----------------------------------------------------------------------------- helpers
collect <- function(expr) {
  w <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") })
  list(value = val, warnings = w)
}

named_list <- function(l) if (length(l) == 0) setNames(list(), character(0)) else l
arr <- function(v) {
  if (is.null(v)) return(NULL)
  if (is.matrix(v) && ncol(v) > 1) rows(v) else I(unname(as.numeric(v)))
}

fit_case <- function(name, seed, dgp, n, formula_py, formula_r, family, family_r, family_py,
                     method = "ML", weights_column = NULL, sp = NULL, reml_twin = FALSE,
                     description = "") {
  set.seed(seed)
  data <- dgp(n)
  newdata <- dgp(N_NEW)
  fml <- if (is.list(formula_r)) lapply(formula_r, as.formula, env = environment()) else
    as.formula(formula_r, env = environment())
  for (nm in names(data)) if (is.numeric(data[[nm]])) for (d in list(data, newdata)) {
    back <- fromJSON(toJSON(d[[nm]], digits = NA))
    if (!identical(as.numeric(back), as.numeric(d[[nm]]))) stop("column ", nm, " does not round-trip")
  }
  flev <- list()
  for (nm in names(data)) if (is.factor(data[[nm]])) flev[[nm]] <- I(levels(data[[nm]]))
  wts <- if (is.null(weights_column)) NULL else data[[weights_column]]
  fit_with <- function(m) collect(gam(fml, data = data, family = family, method = m,
                                      weights = wts, sp = sp))
  res <- fit_with(method)
  fit <- res$value
  pl <- predict(fit, newdata = newdata, type = "link", se.fit = TRUE)
  pr <- predict(fit, newdata = newdata, type = "response")
  st <- summary(fit)
  edf_by_smooth <- list()
  for (lab in rownames(st$s.table)) edf_by_smooth[[lab]] <- st$s.table[lab, "edf"]
  fit_sp <- if (length(fit$sp)) fit$sp else fit$full.sp   # all sp fixed: fit$sp is empty
  fam <- fit$family
  fam_params <- list()
  if (grepl("^Ordered Categorical", fam$family))
    fam_params$cut_points <- I(as.numeric(fam$getTheta(TRUE)))
  if (grepl("^Negative Binomial", fam$family))
    fam_params$theta <- as.numeric(fam$getTheta(TRUE))
  case <- list(
    description = description,
    family = family_py,
    family_r = family_r,
    link = if (is.null(fam$link)) NULL else fam$link,
    method = method,
    method_fitted = fit$method,
    formula_py = if (is.list(formula_py)) I(unlist(formula_py)) else formula_py,
    formula_r = if (is.list(formula_r)) I(unlist(formula_r)) else formula_r,
    n = n, n_new = N_NEW, seed = seed,
    data = df_to_list(data),
    newdata = df_to_list(newdata),
    factor_levels = named_list(flev),
    weights_column = weights_column,
    sp_fixed = if (is.null(sp)) NULL else I(sp),
    coefficients = I(unname(coef(fit))),
    coef_names = I(names(coef(fit))),
    sp = I(unname(fit_sp)),
    sp_names = I(names(fit_sp)),
    edf_by_smooth = named_list(edf_by_smooth),
    edf = I(unname(fit$edf)),
    edf_total = sum(fit$edf),
    reml = as.numeric(fit$gcv.ubre),
    reml_scale = if (is.null(fit$reml.scale) || is.na(fit$reml.scale)) NULL else fit$reml.scale,
    scale = fit$scale,
    deviance = fit$deviance,
    converged = if (is.null(fit$converged)) NULL else fit$converged,
    outer_info = list(conv = fit$outer.info$conv, iter = fit$outer.info$iter),
    fitted_link = arr(predict(fit, type = "link")),
    predict_link = arr(pl$fit),
    predict_link_se = arr(pl$se.fit),
    predict_response = arr(pr),
    family_params = named_list(fam_params),
    fit_warnings = I(res$warnings)
  )
  if (reml_twin) {
    twin <- fit_with("REML")$value
    case$reml_twin <- list(reml = as.numeric(twin$gcv.ubre), sp = I(unname(twin$sp)),
                           method_fitted = twin$method)
  }
  case <- Filter(Negate(is.null), case)
  cat(sprintf("%-28s method=%s fitted=%s sp=%s score=%.6f edf=%.3f conv=%s\n", name, method,
              fit$method, paste(signif(fit_sp, 4), collapse = ","), fit$gcv.ubre,
              sum(fit$edf), fit$outer.info$conv))
  if (length(res$warnings)) cat("   fit warnings:", paste(unique(res$warnings), collapse = " | "), "\n")
  case
}

# ----------------------------------------------------------------------------- cases
cases <- list()

cases$gaussian_factor_two_smooths_ML <- fit_case("gaussian_factor_two_smooths_ML", 501,
  dgp_two_smooths, 300, 'y ~ f + s(x1) + s(x2, bs="cr")', 'y ~ f + s(x1) + s(x2, bs = "cr")',
  gaussian(), "gaussian()", "gaussian", reml_twin = TRUE,
  description = "parametric factor (3 levels) + tp s(x1) + cr s(x2); M_p = 3 (intercept, 2 factor contrasts) + 1 (tp linear) + 1 (cr linear)")

cases$gaussian_weighted_ML <- fit_case("gaussian_weighted_ML", 501, dgp_two_smooths, 300,
  'y ~ f + s(x1) + s(x2, bs="cr")', 'y ~ f + s(x1) + s(x2, bs = "cr")',
  gaussian(), "gaussian()", "gaussian", weights_column = "w",
  description = "as gaussian_factor_two_smooths_ML with prior weights w (error variance 0.09 / w)")

cases$gaussian_linear_smooth_ML <- fit_case("gaussian_linear_smooth_ML", 502, dgp_linear_x2,
  300, "y ~ s(x1) + s(x2)", "y ~ s(x1) + s(x2)", gaussian(), "gaussian()", "gaussian",
  reml_twin = TRUE,
  description = "the x2 effect is exactly linear: s(x2) is penalized to its null space (huge sp, edf -> 1)")

cases$gaussian_fixed_sp_ML <- fit_case("gaussian_fixed_sp_ML", 502, dgp_linear_x2, 300,
  "y ~ s(x1) + s(x2)", "y ~ s(x1) + s(x2)", gaussian(), "gaussian()", "gaussian",
  sp = c(1e-3, 1e15),
  description = "same data as gaussian_linear_smooth_ML, sp fixed at (1e-3, 1e15): the ML score at a fully penalized s(x2)")

cases$gaussian_te_ML <- fit_case("gaussian_te_ML", 503, dgp_tensor, 300, "y ~ te(x1, x2)",
  "y ~ te(x1, x2)", gaussian(), "gaussian()", "gaussian",
  description = "tensor product te(x1, x2) (cr margins, k = 5): two overlapping penalties, null space dimension 4 (1 intercept + 3)")

cases$poisson_ML <- fit_case("poisson_ML", 504, dgp_poisson, 400, "y ~ s(x) + z",
  "y ~ s(x) + z", poisson(), "poisson()", "poisson", reml_twin = TRUE,
  description = "Poisson log link, tp s(x) + linear z")

cases$gamma_log_ML <- fit_case("gamma_log_ML", 505, dgp_gamma, 400, "y ~ s(x)", "y ~ s(x)",
  Gamma(link = "log"), 'Gamma(link = "log")', "gamma",
  description = "Gamma with log link (non-canonical: Newton weights), scale estimated by ML")

cases$ocat4_ML <- fit_case("ocat4_ML", 506, dgp_ocat, 500, "y ~ s(x) + z", "y ~ s(x) + z",
  ocat(R = 4), "ocat(R = 4)", "ocat", reml_twin = TRUE,
  description = "ordered categorical logit, y in 1..4 (gam.fit4, ML log-determinant)")

cases$nb_ML <- fit_case("nb_ML", 507, dgp_nb, 400, "y ~ s(x)", "y ~ s(x)", nb(), "nb()", "nb",
  description = "negative binomial (log link), theta estimated, ML")

cases$multinom2_ML <- fit_case("multinom2_ML", 508, dgp_multinom, 400,
  list("y ~ s(x1) + z", "~ s(x2) + z"), list("y ~ s(x1) + z", "~ s(x2) + z"),
  multinom(K = 2), "multinom(K = 2)", "multinom", reml_twin = TRUE,
  description = "multinom(K = 2) asked for ML: mgcv fits general families by REML only (fit$method == 'REML'; score = the REML score; note mgcv's multinom score is too small by #(y == 0), see paper_models.json)")

golden <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  generated_by = "tests/golden/make_method_ml_golden.R",
  notes = I(c(
    "All inputs rounded to 6 decimals before fitting.",
    "ML score (mgcv gam.fit3/gam.fit4): Dp/(2 phi) - ls(phi) + log|H_rr|/2 - log|S|_+/2, H_rr the penalized Hessian on the orthogonal complement of the total penalty's null space; no Mp/2 log(2 pi phi) term.",
    "fit$scale is mgcv's scale.est (Gaussian: RSS / (n - sum edf)), used in Vp; fit$reml.scale is the scale the criterion profiles (Gaussian ML: Dp / n).",
    "multinom: mgcv's multinom log-likelihood is too large by #(y == 0) (see paper_models.json notes); the case here records that method = 'ML' is refitted by REML."
  )),
  cases = cases
)
out_file <- file.path(out_dir, "method_ml.json")
write_json(golden, out_file, digits = NA, auto_unbox = TRUE, null = "null")
cat(sprintf("wrote %s (%.2f MB) in %.1f s\n", out_file, file.size(out_file) / 2^20,
            proc.time()[["elapsed"]] - t_start))
