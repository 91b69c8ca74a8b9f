# Golden values: the likelihood families (ocat, nb, multinom) with overlapping penalties
# (te / ti tensor smooths, one penalty per margin on the same coefficients), R mgcv 1.8-41.
# Run: Rscript tests/golden/make_family_tensor_golden.R  (writes family_tensor.json)
library(mgcv)
library(jsonlite)
stopifnot(packageVersion("mgcv") == "1.8.41")

make_data <- function(seed, n) {
  set.seed(seed)
  x1 <- runif(n); x2 <- runif(n)
  f <- sin(2 * pi * x1) * cos(pi * x2) + 0.5 * x2
  list(x1 = x1, x2 = x2, f = f)
}
new_data <- data.frame(x1 = c(0.1, 0.3, 0.5, 0.7, 0.9), x2 = c(0.2, 0.8, 0.5, 0.1, 0.6))

case <- function(fit, data, formula_py, family_py, fam_r) {
  pr <- predict(fit, new_data, type = "response")
  pl <- predict(fit, new_data)
  list(
    formula_py = formula_py, family = family_py, family_r = fam_r,
    data = data, newdata = new_data,
    reml = fit$gcv.ubre[[1]], sp = unname(fit$sp),
    edf_by_smooth = setNames(lapply(fit$smooth, function(s) sum(fit$edf[s$first.para:s$last.para])),
                             sapply(fit$smooth, function(s) s$label)),
    predict_response = unname(as.matrix(pr)), predict_link = unname(as.matrix(pl)),
    theta = if (!is.null(fit$family$getTheta)) fit$family$getTheta(TRUE) else NULL
  )
}
cases <- list()

d <- make_data(501, 500)
eta <- 2 * d$f
u <- eta + rlogis(500)
y <- 1 + (u > -1) + (u > 0.3) + (u > 1.5)
dat <- data.frame(y = y, x1 = d$x1, x2 = d$x2)
fit <- gam(y ~ te(x1, x2, k = c(5, 5)), family = ocat(R = 4), data = dat, method = "REML")
cases$ocat_te <- case(fit, dat, "y ~ te(x1, x2, k=5)", "ocat", "ocat(R = 4)")

d <- make_data(502, 400)
mu <- exp(1 + d$f)
y <- rnbinom(400, mu = mu, size = 3)
dat <- data.frame(y = y, x1 = d$x1, x2 = d$x2)
fit <- gam(y ~ te(x1, x2, k = c(5, 5)), family = nb(), data = dat, method = "REML")
cases$nb_te <- case(fit, dat, "y ~ te(x1, x2, k=5)", "nb", "nb()")

fit <- gam(y ~ ti(x1, k = 5) + ti(x2, k = 5) + ti(x1, x2, k = c(4, 4)), family = nb(),
           data = dat, method = "REML")
cases$nb_ti <- case(fit, dat, "y ~ ti(x1, k=5) + ti(x2, k=5) + ti(x1, x2, k=4)", "nb", "nb()")

d <- make_data(503, 500)
e1 <- 1.5 * d$f; e2 <- -d$f + 0.5
p <- cbind(1, exp(e1), exp(e2)); p <- p / rowSums(p)
y <- apply(p, 1, function(pr) sample(0:2, 1, prob = pr))
dat <- data.frame(y = y, x1 = d$x1, x2 = d$x2)
fit <- gam(list(y ~ te(x1, x2, k = c(4, 4)), ~ s(x1, k = 5)), family = multinom(K = 2),
           data = dat)
cases$multinom_te <- case(fit, dat, list("y ~ te(x1, x2, k=4)", "~ s(x1, k=5)"),
                          "multinom", "multinom(K = 2)")

out <- list(r_version = R.version.string, mgcv_version = as.character(packageVersion("mgcv")),
            generated_by = "tests/golden/make_family_tensor_golden.R", cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null"),
           "tests/golden/family_tensor.json")
