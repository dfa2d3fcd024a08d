# Independent check of nhmg_lib.analyses.mediation point estimates.
# Fits the two models with R lm/glm (prior weights) and applies the Valeri-VanderWeele closed
# forms with covariates at their means (numeric) / modes (categorical), as the R package
# `mediator` does. Usage:
#   Rscript mediation_check.R [data.csv spec.json out.json]   (these names by default)
# spec: exposure, mediator, outcome, covariates[], family ("binomial"|"gaussian"), a, a_star, m
suppressPackageStartupMessages(library(jsonlite))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 0) args <- c("data.csv", "spec.json", "out.json")
d <- read.csv(args[1], stringsAsFactors = FALSE)
s <- fromJSON(args[2])
covs <- paste(s$covariates, collapse = " + ")
fm <- as.formula(paste(s$mediator, "~", s$exposure, "+", covs))
fy <- as.formula(paste(s$outcome, "~", s$exposure, "*", s$mediator, "+", covs))
med <- lm(fm, data = d, weights = weight)
fam <- if (s$family == "binomial") quasibinomial() else gaussian()
# start = 0: with raw survey weights (thousands) glm's default binomial start,
# mustart = (w y + 0.5) / (w + 1), puts every fitted probability next to 0 or 1 and IRLS
# diverges; the maximum-likelihood estimate itself does not depend on the start.
out <- glm(fy, data = d, weights = weight, family = fam,
           start = rep(0, ncol(model.matrix(fy, d))),
           control = glm.control(epsilon = 1e-14, maxit = 100))

# covariate profile c: means of numeric, most frequent level of the others
prof <- d[1, s$covariates, drop = FALSE]
for (v in s$covariates) {
  x <- d[[v]]
  prof[[v]] <- if (is.numeric(x)) mean(x) else names(which.max(table(x)))
}
prof[[s$exposure]] <- 0
prof[[s$mediator]] <- 0
row <- model.matrix(delete.response(terms(med)), rbind(prof, d[, names(prof)]))[1, ]
b <- coef(med)
keep <- !(names(b) %in% c("(Intercept)", s$exposure))
bc <- sum(b[keep] * row[names(b)[keep]])
s2 <- sigma(med)^2
t1 <- unname(coef(out)[s$exposure]); t2 <- unname(coef(out)[s$mediator])
t3 <- unname(coef(out)[paste0(s$exposure, ":", s$mediator)])
b0 <- unname(b["(Intercept)"]); b1 <- unname(b[s$exposure])
a <- s$a; as <- s$a_star; m <- s$m
cde <- (t1 + t3 * m) * (a - as)
nie <- (t2 * b1 + t3 * b1 * a) * (a - as)
if (s$family == "binomial") {
  nde <- (t1 + t3 * (b0 + b1 * as + bc + t2 * s2)) * (a - as) + 0.5 * t3^2 * s2 * (a^2 - as^2)
  cde <- exp(cde); nde <- exp(nde); nie <- exp(nie)
  te <- nde * nie; pm <- nde * (nie - 1) / (te - 1)
} else {
  nde <- (t1 + t3 * (b0 + b1 * as + bc)) * (a - as)
  te <- nde + nie; pm <- nie / te
}
res <- list(cde = cde, nde = nde, nie = nie, te = te, pm = pm, t1 = t1, t2 = t2, t3 = t3,
            b0 = b0, b1 = b1, bc = bc, s2raw = s2)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), args[3])
