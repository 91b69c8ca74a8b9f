# Generate golden values from R mgcv 1.8-41 + gKRLS 1.0.2 for the "paper" model classes:
# 1-D / 2-D thin-plate splines, tensor products (te, ti), by-variable smooths, the paper's
# binomial tp + krls + re shape, ordered categorical (ocat), multinomial logit (multinom),
# negative binomial (nb), and the binary equivalences binomial = multinom(K=1) = ocat(R=2)
# (mgcv 1.8-41 cannot fit ocat(R=2): that case stores the data and R's error).
#
# Run from the repository root:   Rscript tests/golden/make_paper_models_golden.R
# Needs R with mgcv, jsonlite and gKRLS installed in /opt/rlib (see tests/golden/install_r.sh).
# Writes tests/golden/paper_models.json (about 1 MB); takes a few seconds.
# Deterministic: a rerun gives a byte-identical JSON.
#
# ------------------------------------------------------------------------------ JSON layout
# Top level: r_version, mgcv_version, gkrls_version, generated_by, notes (free text),
#            cases = { <case name>: <case>, ... }.
# Every <case> has
#   description      what the case is for
#   family           our family name: "gaussian" | "binomial" | "ocat" | "multinom" | "nb"
#   family_r         the R family call, e.g. "ocat(R = 4)";  family_r_name = fit$family$family
#                    (for nb it carries the fitted theta);  link = fit$family$link (absent
#                    for multinom, whose family object has no link)
#   family_args      {"R": 4} for ocat, {"K": 2} for multinom, {} otherwise
#   method           "REML" or "ML"
#   formula_py       our formula (string), or a list of strings for multinom
#                    (["y ~ s(x1) + z", "~ s(x2) + z"]); krls(...) terms carry no indices=:
#                    add indices=sketch_indices$krls<j> (0-based) to the j-th krls() call,
#                    counting across the formula list in order (tests/gam/golden.py:with_indices)
#   formula_r        the R formula (string, or list of strings); idx1, idx2, ... in it are the
#                    1-based sketch rows = sketch_indices$krls1 + 1, ...
#   n, n_new, seed
#   data, newdata    column -> array (factors as strings); inputs rounded to 6 decimals
#                    *before* fitting, so the JSON holds exactly what R fitted
#   factor_levels    column -> levels (R level order) for factor columns
#   sketch_indices   (krls cases only) {"krls1": [0-based rows], "krls2": [...]}
# and, when R fitted it (else `error` holds R's error message and the outputs are absent):
#   coefficients, coef_names          coef(fit), in mgcv's order (parametric of predictor 1,
#                                     its smooths in formula order, then the same for
#                                     predictor 2 with names suffixed ".1", ...)
#   lpi                               (multinom) 1-based coefficient indices of each predictor
#   n_y0                              (multinom) number of y == 0 rows: see notes
#   sp, sp_names                      fit$sp and names(fit$sp)
#   smooths                           one object per fit$smooth[[j]]: label, class, term, by,
#                                     by_level (by smooths only), dim, bs_dim (k; absent for
#                                     te/ti, -1 for gKRLS), null_space_dim, first_para,
#                                     last_para (1-based), first_sp, last_sp (1-based into sp),
#                                     S_scale, n_penalties, margin_bs/margin_k (te/ti)
#   edf_by_smooth                     label -> summary(fit)$s.table[, "edf"]
#   edf, edf1                         fit$edf, fit$edf1 (per coefficient); edf_total = sum(edf)
#   reml                              fit$gcv.ubre (the REML score, or the ML score when
#                                     method == "ML"); for exponential families R also gives
#                                     attr "Dp", stored as reml_Dp
#   scale (fit$scale), sig2 (fit$sig2), scale_estimated
#   deviance, converged, outer_info {conv, iter}
#   fitted_link      predict(fit, type = "link") on the training data: vector, or rows (one
#                    array of K per observation) for multinom with K >= 2 (K = 1: vector)
#   fitted_response  predict(fit, type = "response") on the training data: vector, or rows of
#                    per-category probabilities (ocat: R columns, categories 1..R;
#                    multinom: K+1 columns, categories 0..K)
#   predict_link, predict_link_se, predict_response, predict_response_se
#                    the same on newdata, with se.fit = TRUE (same shapes; *_se absent where R
#                    does not give them)
#   Vp_diag, Vp      diag(fit$Vp) and fit$Vp (rows)
#   s_table          {columns: [...], rows: [labels], values: rows}  (summary(fit)$s.table;
#                    the statistic column is "F" for gaussian, "Chi.sq" otherwise)
#   p_table          the same for summary(fit)$p.table (parametric terms)
#   family_params    (empty {} for other families)
#                    ocat: cut_points = getTheta(TRUE) (first fixed at -1),
#                          theta_internal = getTheta(FALSE) (log increments of the cut points)
#                    nb:   theta = getTheta(TRUE), log_theta = getTheta(FALSE)
#   fit_warnings     warnings R gave while fitting
#   effects          (some cases) name -> {call, variable, type, response (ocat/multinom:
#                    category 1..R resp. 1..K+1 = y 0..K), estimate, std_error,
#                    gradient_rows (one row of length p per effect row), N, N_eff, records}
# Matrices are written row-major (one JSON array per row).

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(gKRLS)
  library(jsonlite)
})

t_start <- proc.time()[["elapsed"]]
source(file.path("tests", "golden", "golden_helpers.R"))

N_NEW <- 8
r6 <- function(x) round(x, 6)

# ----------------------------------------------------------------------------- DGPs
# Each DGP returns a data.frame whose numeric inputs (and continuous y) are rounded to 6
# decimals. New rows come from the same DGP.

dgp_tp1 <- function(n) {
  x <- r6(runif(n))
  y <- r6(sin(2 * pi * x) + 0.5 * x + rnorm(n, 0, 0.3))
  data.frame(y = y, x = x)
}

dgp_tp2 <- function(n) {
  x1 <- r6(runif(n)); x2 <- r6(runif(n))
  y <- r6(sin(2 * pi * x1) * cos(1.5 * x2) + 0.8 * x2^2 + rnorm(n, 0, 0.3))
  data.frame(y = y, x1 = x1, x2 = x2)
}

g12 <- sprintf("g%02d", 1:12)
u_g <- NULL   # random effects, drawn once per case in `pre` (shared by train and new data)
dgp_paper_binomial <- function(n) {
  z1 <- r6(rnorm(n)); z2 <- r6(rnorm(n))
  x <- r6(runif(n)); x1 <- r6(rnorm(n)); x2 <- r6(rnorm(n))
  g <- factor(sample(g12, n, replace = TRUE), levels = g12)
  eta <- -0.2 + 0.6 * z1 - 0.4 * z2 + sin(2 * pi * x) + 0.8 * sin(x1) * x2 + u_g[as.integer(g)]
  y <- rbinom(n, 1, plogis(eta))
  data.frame(y = as.numeric(y), z1 = z1, z2 = z2, x = x, x1 = x1, x2 = x2, g = g)
}

dgp_tensor <- function(n) {
  x1 <- r6(runif(n)); x2 <- r6(runif(n, 0, 2))
  y <- r6(sin(2 * pi * x1) + 0.5 * x2^2 + 0.8 * cos(2 * pi * x1) * (x2 - 1)^2 + rnorm(n, 0, 0.3))
  data.frame(y = y, x1 = x1, x2 = x2)
}

f_levels <- c("a", "b", "c")
dgp_by_factor <- function(n) {
  x <- r6(runif(n))
  f <- factor(sample(f_levels, n, replace = TRUE), levels = f_levels)
  fx <- cbind(sin(2 * pi * x), 2 * (x - 0.5)^2 + 0.5, cos(2 * pi * x) - 0.3)
  y <- r6(fx[cbind(seq_len(n), as.integer(f))] + rnorm(n, 0, 0.3))
  data.frame(y = y, x = x, f = f)
}

dgp_by_numeric <- function(n) {
  x <- r6(runif(n)); z <- r6(rnorm(n))
  y <- r6(0.3 + (1 + sin(2 * pi * x)) * z + rnorm(n, 0, 0.3))
  data.frame(y = y, x = x, z = z)
}

ocat_cuts <- c(-1, 0.2, 1.4)
dgp_ocat <- function(n) {
  x <- r6(runif(n)); z <- r6(rnorm(n))
  ystar <- 0.3 + 1.2 * sin(2 * pi * x) + 0.8 * z + rlogis(n)
  y <- 1 + findInterval(ystar, ocat_cuts)
  data.frame(y = as.numeric(y), x = x, z = z)
}

softmax_draw <- function(eta) {   # eta: n x K (category 0 is the reference)
  p <- cbind(1, exp(eta)); p <- p / rowSums(p)
  apply(p, 1, function(pr) sample(0:ncol(eta), 1, prob = pr))
}

dgp_multinom <- function(n) {
  x1 <- r6(runif(n)); x2 <- r6(runif(n)); z <- r6(rnorm(n))
  eta <- cbind(0.2 + 1.5 * sin(2 * pi * x1) + 0.7 * z,
               -0.6 + 6 * (x2 - 0.5)^2 - 0.6 * z)
  data.frame(y = as.numeric(softmax_draw(eta)), x1 = x1, x2 = x2, z = z)
}

dgp_multinom_krls <- function(n) {
  x1 <- r6(rnorm(n)); x2 <- r6(rnorm(n))
  eta <- cbind(0.3 + 1.2 * sin(x1) + 0.6 * x2,
               -0.2 + 0.8 * x1 * x2 - 0.5 * x2^2 + 0.5)
  data.frame(y = as.numeric(softmax_draw(eta)), x1 = x1, x2 = x2)
}

dgp_nb <- function(n) {
  x <- r6(runif(n))
  y <- rnbinom(n, size = 3, mu = exp(1 + sin(2 * pi * x)))
  data.frame(y = as.numeric(y), x = x)
}

dgp_binary <- function(n) {
  x <- r6(runif(n)); z <- r6(rnorm(n))
  y <- rbinom(n, 1, plogis(-0.2 + 1.3 * sin(2 * pi * x) + 0.8 * z))
  data.frame(y = as.numeric(y), x = x, z = z)
}

# ----------------------------------------------------------------------------- helpers

collect <- function(expr) {
  w <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") })
  list(value = val, warnings = w)
}

plain_df <- function(d) {
  d <- as.list(d)
  d <- lapply(d, function(col) if (is.factor(col)) as.character(col) else col)
  as.data.frame(d, stringsAsFactors = FALSE, check.names = FALSE)
}

named_list <- function(l) if (length(l) == 0) setNames(list(), character(0)) else l

# vector or one-column matrix -> flat array; matrix -> rows
arr <- function(v) {
  if (is.null(v)) return(NULL)
  if (is.matrix(v) && ncol(v) > 1) rows(v) else I(unname(as.numeric(v)))
}

table_entry <- function(tab) {
  if (is.null(tab) || nrow(tab) == 0) return(NULL)
  list(columns = I(colnames(tab)), rows = I(rownames(tab)), values = rows(tab))
}

smooth_info <- function(sm) {
  info <- list(
    label = sm$label,
    class = class(sm)[1],
    term = I(sm$term),
    by = if (identical(sm$by, "NA")) NULL else sm$by,
    by_level = if (is.null(sm$by.level)) NULL else as.character(sm$by.level),
    dim = sm$dim,
    bs_dim = sm$bs.dim,
    null_space_dim = sm$null.space.dim,
    first_para = sm$first.para,
    last_para = sm$last.para,
    first_sp = sm$first.sp,
    last_sp = sm$last.sp,
    S_scale = I(sm$S.scale),
    n_penalties = length(sm$S)
  )
  if (!is.null(sm$margin)) {
    info$margin_bs <- I(vapply(sm$margin, function(m) class(m)[1], ""))
    info$margin_k <- I(vapply(sm$margin, function(m) as.numeric(m$bs.dim), 0))
  }
  Filter(Negate(is.null), info)
}

# one calculate_effects call -> JSON entry (general families give one row per category)
effect_entry <- function(fit, call_str, args) {
  res <- collect(do.call(calculate_effects, c(list(model = fit), args)))
  out <- res$value
  d <- plain_df(out)
  grad <- attr(out, "gradient")
  if (is.matrix(grad)) {
    grad_rows <- rows(t(grad))
  } else {   # general families: gradient[[cond]][[variable]][[response]] is p x 1
    flat <- list()
    for (gc in grad) for (gv in gc) for (gr in gv) flat[[length(flat) + 1]] <- as.numeric(gr)
    grad_rows <- rows(do.call(rbind, flat))
  }
  e <- list(
    call = call_str,
    variable = I(as.character(d$variable)),
    type = I(as.character(d$type)),
    estimate = I(as.numeric(d$est)),
    std_error = I(as.numeric(d$se)),
    gradient_rows = grad_rows,
    N = attr(out, "N"),
    N_eff = attr(out, "N_eff"),
    warnings = I(res$warnings),
    records = d
  )
  if (!is.null(d$response)) e$response <- I(as.integer(d$response))
  e
}

fit_case <- function(name, seed, dgp, n, formula_py, formula_r, family, family_r,
                     family_py, family_args = list(), n_krls = 0, method = "REML",
                     pre = NULL, description = "", data_transform = NULL) {
  set.seed(seed)
  if (!is.null(pre)) pre()
  data <- dgp(n)
  newdata <- dgp(N_NEW)
  if (!is.null(data_transform)) { data <- data_transform(data); newdata <- data_transform(newdata) }
  idx_list <- draw_sketches(n, n_krls, environment())
  fml <- if (is.list(formula_r)) lapply(formula_r, as.formula, env = environment()) else
    as.formula(formula_r, env = environment())

  for (nm in names(data)) if (is.numeric(data[[nm]])) {
    for (d in list(data, newdata)) {
      back <- fromJSON(toJSON(d[[nm]], digits = NA))
      if (!identical(as.numeric(back), as.numeric(d[[nm]]))) stop("column ", nm, " does not round-trip")
    }
  }
  flev <- list()
  for (nm in names(data)) if (is.factor(data[[nm]])) flev[[nm]] <- I(levels(data[[nm]]))

  case <- list(
    description = description,
    family = family_py,
    family_r = family_r,
    family_args = named_list(family_args),
    method = method,
    formula_py = if (is.list(formula_py)) I(unlist(formula_py)) else formula_py,
    formula_r = if (is.list(formula_r)) I(unlist(formula_r)) else formula_r,
    n = n,
    n_new = N_NEW,
    seed = seed,
    data = df_to_list(data),
    newdata = df_to_list(newdata),
    factor_levels = named_list(flev)
  )
  if (length(idx_list) > 0) case$sketch_indices <- idx_list

  t0 <- proc.time()[["elapsed"]]
  res <- tryCatch(collect(gam(fml, data = data, family = family, method = method)),
                  error = function(e) e)
  if (inherits(res, "error")) {
    case$error <- conditionMessage(res)
    cat(sprintf("%-26s ERROR: %s\n", name, case$error))
    return(list(case = case, data = data, fit = NULL))
  }
  fit <- res$value
  t_fit <- proc.time()[["elapsed"]] - t0

  pl <- predict(fit, newdata = newdata, type = "link", se.fit = TRUE)
  pr <- tryCatch(predict(fit, newdata = newdata, type = "response", se.fit = TRUE),
                 error = function(e) list(fit = predict(fit, newdata = newdata, type = "response")))
  st <- summary(fit)
  edf_by_smooth <- list()
  if (!is.null(st$s.table)) for (lab in rownames(st$s.table))
    edf_by_smooth[[lab]] <- st$s.table[lab, "edf"]

  fam <- fit$family
  fam_params <- list()
  if (inherits(fam, "extended.family") && !is.null(fam$getTheta)) {
    if (grepl("^Ordered Categorical", fam$family)) {
      fam_params$cut_points <- I(as.numeric(fam$getTheta(TRUE)))
      fam_params$theta_internal <- I(as.numeric(fam$getTheta(FALSE)))
    } else if (grepl("^Negative Binomial", fam$family)) {
      fam_params$theta <- as.numeric(fam$getTheta(TRUE))
      fam_params$log_theta <- as.numeric(fam$getTheta(FALSE))
    }
  }
  lpi <- attr(fit$formula, "lpi")

  case <- c(case, list(
    family_r_name = fam$family,
    link = if (is.null(fam$link)) NULL else fam$link,
    coefficients = I(unname(coef(fit))),
    coef_names = I(names(coef(fit)))
  ))
  if (!is.null(lpi)) case$lpi <- lapply(lpi, function(v) I(as.integer(v)))
  if (inherits(fam, "general.family") && fam$family == "multinom")
    case$n_y0 <- sum(data$y == 0)   # mgcv's multinom log-likelihood is too large by this much
  case <- c(case, list(
    sp = I(unname(fit$sp)),
    sp_names = I(names(fit$sp)),
    smooths = lapply(fit$smooth, smooth_info),
    edf_by_smooth = named_list(edf_by_smooth),
    edf = I(unname(fit$edf)),
    edf1 = I(unname(fit$edf1)),
    edf_total = sum(fit$edf),
    reml = as.numeric(fit$gcv.ubre),
    reml_Dp = if (is.null(attr(fit$gcv.ubre, "Dp"))) NULL else as.numeric(attr(fit$gcv.ubre, "Dp")),
    scale = fit$scale,
    sig2 = if (is.null(fit$sig2)) NULL else fit$sig2,
    scale_estimated = fit$scale.estimated,
    deviance = fit$deviance,
    converged = if (is.null(fit$converged)) NULL else fit$converged,
    outer_info = list(conv = fit$outer.info$conv, iter = fit$outer.info$iter),
    fitted_link = arr(predict(fit, type = "link")),
    fitted_response = arr(predict(fit, type = "response")),
    predict_link = arr(pl$fit),
    predict_link_se = arr(pl$se.fit),
    predict_response = arr(pr$fit),
    predict_response_se = arr(pr$se.fit),
    Vp_diag = I(unname(diag(fit$Vp))),
    Vp = rows(fit$Vp),
    s_table = table_entry(st$s.table),
    p_table = table_entry(st$p.table),
    family_params = named_list(fam_params),
    fit_warnings = I(res$warnings)
  ))
  case <- Filter(Negate(is.null), case)

  cat(sprintf("%-26s n=%d p=%d sp=%s score=%.6f edf=%.3f conv=%s iter=%s fit=%.1fs%s\n",
              name, n, length(coef(fit)), paste(signif(fit$sp, 4), collapse = ","),
              fit$gcv.ubre, sum(fit$edf), fit$outer.info$conv, fit$outer.info$iter, t_fit,
              if (length(fam_params)) paste0(" fam=", paste(signif(unlist(fam_params), 5), collapse = ","))
              else ""))
  if (length(res$warnings)) cat("   fit warnings:", paste(unique(res$warnings), collapse = " | "), "\n")
  list(case = case, data = data, fit = fit)
}

krls_r <- function(j) sprintf('s(x1, x2, bs = "gKRLS", xt = gKRLS(sketch_method = idx%d))', j)

# ----------------------------------------------------------------------------- cases
cases <- list()
add <- function(name, res) { cases[[name]] <<- res$case; invisible(res) }

# 1. 1-D thin plate (default k = 10), REML and ML
for (m in c("REML", "ML")) {
  nm <- if (m == "REML") "gaussian_tp1" else "gaussian_tp1_ML"
  add(nm, fit_case(nm, 401, dgp_tp1, 300, "y ~ s(x)", "y ~ s(x)", gaussian(), "gaussian()",
                   "gaussian", method = m,
                   description = "1-D thin plate regression spline, default k = 10"))
}

# 2. 2-D thin plate (default k = 30)
add("gaussian_tp2", fit_case("gaussian_tp2", 402, dgp_tp2, 400, "y ~ s(x1, x2)",
  "y ~ s(x1, x2)", gaussian(), "gaussian()", "gaussian",
  description = "2-D thin plate regression spline, default k = 30"))

# 3. the paper's four-part binomial: parametric + tp + krls + re, REML and ML
for (m in c("REML", "ML")) {
  nm <- if (m == "REML") "binomial_tp_krls_re" else "binomial_tp_krls_re_ML"
  res <- add(nm, fit_case(nm, 403, dgp_paper_binomial, 500,
    'y ~ z1 + z2 + s(x) + krls(x1, x2) + re(g)',
    paste('y ~ z1 + z2 + s(x) +', krls_r(1), '+ s(g, bs = "re")'),
    binomial(), "binomial()", "binomial", n_krls = 1, method = m,
    pre = function() u_g <<- r6(rnorm(12, 0, 0.6)),
    description = "binomial logit: linear z1 + z2, 1-D tp s(x), krls(x1, x2) with a custom sketch, random intercept g (12 levels)"))
  cases[[nm]]$u_g <- I(u_g)
  if (m == "REML") cases[[nm]]$effects <- list(
    derivative_z1 = effect_entry(res$fit,
      'calculate_effects(fit, variables = "z1", continuous_type = "derivative")',
      list(variables = "z1", continuous_type = "derivative")),
    derivative_x1 = effect_entry(res$fit,
      'calculate_effects(fit, variables = "x1", continuous_type = "derivative")',
      list(variables = "x1", continuous_type = "derivative")))
}

# 4. tensor products: te default (cr margins, k = 5 each) and te(bs = c("tp", "cr"), k = c(6, 5))
add("gaussian_te", fit_case("gaussian_te", 404, dgp_tensor, 400, "y ~ te(x1, x2)",
  "y ~ te(x1, x2)", gaussian(), "gaussian()", "gaussian",
  description = "tensor product te(x1, x2), default: cr margins with k = 5 each (25 coefficients less 1 constraint)"))
add("gaussian_te_tp_cr", fit_case("gaussian_te_tp_cr", 404, dgp_tensor, 400,
  'y ~ te(x1, x2, bs=["tp", "cr"], k=[6, 5])',
  'y ~ te(x1, x2, bs = c("tp", "cr"), k = c(6, 5))', gaussian(), "gaussian()", "gaussian",
  description = "tensor product with a tp margin (k = 6) and a cr margin (k = 5); same data as gaussian_te"))

# 5. ti decomposition (same data as the te cases)
add("gaussian_ti", fit_case("gaussian_ti", 404, dgp_tensor, 400,
  "y ~ ti(x1) + ti(x2) + ti(x1, x2)", "y ~ ti(x1) + ti(x2) + ti(x1, x2)",
  gaussian(), "gaussian()", "gaussian",
  description = "ti main effects (default: cr, k = 5 each) + ti interaction (cr margins, k = 5 each); same data as gaussian_te"))

# 6. by-variable smooths
add("gaussian_by_factor", fit_case("gaussian_by_factor", 406, dgp_by_factor, 450,
  "y ~ f + s(x, by=f)", "y ~ f + s(x, by = f)", gaussian(), "gaussian()", "gaussian",
  description = "factor-by smooth, 3 levels: one centred tp smooth per level (labels s(x):fa, s(x):fb, s(x):fc) plus the f main effect"))
add("gaussian_by_numeric", fit_case("gaussian_by_numeric", 407, dgp_by_numeric, 400,
  "y ~ s(x, by=z)", "y ~ s(x, by = z)", gaussian(), "gaussian()", "gaussian",
  description = "numeric-by smooth f(x) * z: mgcv applies NO centring constraint (all k = 10 columns kept)"))

# 7. ordered categorical, R = 4
res <- add("ocat4", fit_case("ocat4", 408, dgp_ocat, 500, "y ~ s(x) + z", "y ~ s(x) + z",
  ocat(R = 4), "ocat(R = 4)", "ocat", family_args = list(R = 4),
  description = "ordered categorical logit, y in 1..4, true cut points -1, 0.2, 1.4 (after a 0.3 shift)"))
cases$ocat4$effects <- list(derivative_z = effect_entry(res$fit,
  'calculate_effects(fit, variables = "z", continuous_type = "derivative")',
  list(variables = "z", continuous_type = "derivative")))

# 8. multinomial logit, K = 2 (y in 0..2)
res <- add("multinom2", fit_case("multinom2", 409, dgp_multinom, 500,
  list("y ~ s(x1) + z", "~ s(x2) + z"), list("y ~ s(x1) + z", "~ s(x2) + z"),
  multinom(K = 2), "multinom(K = 2)", "multinom", family_args = list(K = 2),
  description = "multinomial logit, y in 0..2 (0 = reference); predictor 1 for y = 1, predictor 2 for y = 2"))
cases$multinom2$effects <- list(derivative_z = effect_entry(res$fit,
  'calculate_effects(fit, variables = "z", continuous_type = "derivative")',
  list(variables = "z", continuous_type = "derivative")))

res <- add("multinom2_krls", fit_case("multinom2_krls", 410, dgp_multinom_krls, 400,
  list("y ~ krls(x1, x2)", "~ krls(x1, x2)"),
  list(paste("y ~", krls_r(1)), paste("~", krls_r(2))),
  multinom(K = 2), "multinom(K = 2)", "multinom", family_args = list(K = 2), n_krls = 2,
  description = "multinomial logit with one krls(x1, x2) per predictor; sketch krls1 -> predictor 1, krls2 -> predictor 2"))
cases$multinom2_krls$effects <- list(derivative_x1 = effect_entry(res$fit,
  'calculate_effects(fit, variables = "x1", continuous_type = "derivative")',
  list(variables = "x1", continuous_type = "derivative")))

# 9. negative binomial, theta estimated
add("nb", fit_case("nb", 411, dgp_nb, 400, "y ~ s(x)", "y ~ s(x)", nb(), "nb()", "nb",
  description = "negative binomial (log link), theta estimated; true theta (size) = 3"))

# 10. binary data three ways: binomial, multinom(K = 1), ocat(R = 2) (y + 1)
bin_args <- list(seed = 412, dgp = dgp_binary, n = 400)
res_b <- add("binary_binomial", do.call(fit_case, c(list("binary_binomial"), bin_args, list(
  "y ~ s(x) + z", "y ~ s(x) + z", binomial(), "binomial()", "binomial",
  description = "binary y in 0/1, binomial logit (reference for the multinom(K = 1) and ocat(R = 2) cases)"))))
res_m <- add("binary_multinom1", do.call(fit_case, c(list("binary_multinom1"), bin_args, list(
  list("y ~ s(x) + z"), list("y ~ s(x) + z"), multinom(K = 1), "multinom(K = 1)", "multinom",
  family_args = list(K = 1),
  description = "same data as binary_binomial, multinom(K = 1): same fit; the REML score differs by a constant"))))
res_o <- add("binary_ocat2", do.call(fit_case, c(list("binary_ocat2"), bin_args, list(
  "y ~ s(x) + z", "y ~ s(x) + z", ocat(R = 2), "ocat(R = 2)", "ocat", family_args = list(R = 2),
  data_transform = function(d) { d$y <- d$y + 1; d },
  description = paste("same data as binary_binomial with y + 1 (categories 1, 2): mgcv 1.8-41 cannot",
                      "fit ocat(R = 2) (error stored); the equivalent model is binomial with",
                      "eta_binomial = eta_ocat + 1 (the only cut point is fixed at -1:",
                      "P(y = 2) = plogis(1 + eta_ocat))")))))
for (nm in c("binary_binomial", "binary_multinom1"))
  cases[[nm]]$effects <- list(derivative_z = effect_entry(
    if (nm == "binary_binomial") res_b$fit else res_m$fit,
    'calculate_effects(fit, variables = "z", continuous_type = "derivative")',
    list(variables = "z", continuous_type = "derivative")))
cases$binary_multinom1$comparison_to_binomial <- list(
  coef_maxabsdiff = max(abs(coef(res_m$fit) - coef(res_b$fit))),
  sp_reldiff = as.numeric(abs(res_m$fit$sp / res_b$fit$sp - 1)),
  reml_difference = as.numeric(res_b$fit$gcv.ubre - res_m$fit$gcv.ubre),
  note = "reml_difference = binomial gcv.ubre - multinom(K = 1) gcv.ubre")

golden <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  gkrls_version = as.character(packageVersion("gKRLS")),
  generated_by = "tests/golden/make_paper_models_golden.R",
  notes = I(c(
    "All inputs rounded to 6 decimals before fitting; every case is fitted by gam(..., method = <method>).",
    "ocat: mgcv fixes the first cut point at -1 and keeps an intercept; getTheta(FALSE) = log(diff(cut_points)).",
    "ocat predict(type = 'link') is the location eta (one column); type = 'response' gives R probabilities; P(y <= k) = plogis(cut_k - eta). fit$family$link is 'identity' for ocat.",
    "multinom: mgcv 1.8-41's multinom()$ll puts 1 (not 0) in the reference category's eta column, so its log-likelihood is too large by n_y0 = #(y == 0) and gcv.ubre (REML/ML score) is too SMALL by n_y0 (exactly; see binary_multinom1$comparison_to_binomial). Fit, sp, edf, Vp are unaffected.",
    "multinom: predictor k has coefficients lpi[[k]]; names of predictor k >= 2 get '.{k-1}' after the term (s.1(x2), z.1, (Intercept).1).",
    "ocat(R = 2) fails inside mgcv 1.8-41 (see binary_ocat2$error)."
  )),
  cases = cases
)
out_file <- file.path(out_dir, "paper_models.json")
write_json(golden, out_file, digits = NA, auto_unbox = TRUE, null = "null")
cat(sprintf("wrote %s (%.2f MB) in %.1f s\n", out_file, file.size(out_file) / 2^20,
            proc.time()[["elapsed"]] - t_start))
