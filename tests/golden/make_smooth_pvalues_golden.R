# End-to-end golden values for summary() smooth-term rows (mgcv 1.8-41 summary.gam,
# p.type = 0): data, formulas and s.table of a few REML fits with cr smooths and
# random effects. Run from the repo root: Rscript tests/golden/make_smooth_pvalues_golden.R
suppressMessages({library(mgcv); library(jsonlite)})
set.seed(20261123)
n <- 300
d <- data.frame(x1 = round(runif(n), 6), x2 = round(runif(n), 6), x3 = round(runif(n), 6),
                g = sample(letters[1:8], n, TRUE))
u <- rnorm(8, sd = 0.5); names(u) <- letters[1:8]
eta <- sin(2 * pi * d$x1) + 0.8 * cos(4 * d$x2) + (d$x3 - 0.5)^2 * 3 + u[d$g]
d$y <- round(eta + rnorm(n, sd = 0.4), 6)
d$b <- as.numeric(runif(n) < plogis(eta))
d$c <- rpois(n, exp(0.3 + 0.5 * eta))
d$g <- factor(d$g)
cases <- list(
  list(name = "gaussian_cr_re", family = "gaussian",
       formula_r = "y ~ s(x1, bs = 'cr') + s(x2, bs = 'cr') + s(x3, bs = 'cr') + s(g, bs = 're')",
       formula_py = "y ~ s(x1, bs='cr') + s(x2, bs='cr') + s(x3, bs='cr') + re(g)"),
  list(name = "binomial_cr", family = "binomial",
       formula_r = "b ~ x2 + s(x1, bs = 'cr', k = 8) + s(x3, bs = 'cr')",
       formula_py = "b ~ x2 + s(x1, bs='cr', k=8) + s(x3, bs='cr')"),
  list(name = "poisson_cr_re", family = "poisson",
       formula_r = "c ~ s(x1, bs = 'cr') + s(g, bs = 're')",
       formula_py = "c ~ s(x1, bs='cr') + re(g)")
)
out <- list()
for (cs in cases) {
  fam <- switch(cs$family, gaussian = gaussian(), binomial = binomial(), poisson = poisson())
  fit <- gam(as.formula(cs$formula_r), data = d, family = fam, method = "REML")
  st <- summary(fit)$s.table
  out[[cs$name]] <- list(family = cs$family, formula_py = cs$formula_py,
                         s_table = list(rows = rownames(st), columns = colnames(st),
                                        values = unname(st)),
                         edf = unname(st[, 1]), reml = fit$gcv.ubre)
}
d$g <- as.character(d$g)
res <- list(mgcv_version = as.character(packageVersion("mgcv")), data = d, cases = out)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"),
           "tests/golden/smooth_pvalues_fits.json")
