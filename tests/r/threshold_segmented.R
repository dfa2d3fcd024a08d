# Reference values for tests/test_threshold.py (run by rhelpers.run_r in a temporary directory).
# Inputs: adults.csv, params.json (covariates, values). The Model 3 logistic fit with the
# survey weights (scaled to mean 1; glm with these weights has the svyglm point estimates) on
# the complete cases of the in_cohort domain; segmented (Muggeo) estimates its breakpoint in
# ln_mg from the median as start; davies.test (type "wald") at the given values, and with
# R's defaults (type "lrt", k = 10) on that glm and on the unweighted binomial glm.
suppressPackageStartupMessages({ library(segmented); library(jsonlite) })
p <- fromJSON("params.json", simplifyVector = TRUE)
d <- read.csv("adults.csv", stringsAsFactors = FALSE, na.strings = c("NA", ""))
d <- d[d$in_cohort == 1, c("lmm", "ln_mg", "weight", p$covariates)]
d <- d[complete.cases(d), ]
d$w <- d$weight / mean(d$weight)
fit <- glm(as.formula(paste("lmm ~ ln_mg +", paste(p$covariates, collapse = " + "))),
           family = quasibinomial(), weights = w, data = d)
seg <- segmented(fit, seg.Z = ~ln_mg, psi = median(d$ln_mg),
                 control = seg.control(n.boot = 0, it.max = 100))
dt <- davies.test(fit, seg.Z = ~ln_mg, values = p$values, type = "wald")
# R's defaults (type = "lrt", k = 10) on the weighted quasibinomial and the unweighted binomial glm
dflt <- davies.test(fit, seg.Z = ~ln_mg)
plain <- glm(as.formula(paste("lmm ~ ln_mg +", paste(p$covariates, collapse = " + "))),
             family = binomial(), data = d)
dflt_u <- davies.test(plain, seg.Z = ~ln_mg)
out <- list(lrt_p = unname(dflt$p.value), lrt_points = unname(dflt$process[, 1]),
            lrt_z = unname(dflt$process[, 2]), lrt_p_unweighted = unname(dflt_u$p.value),
            lrt_z_unweighted = unname(dflt_u$process[, 2]),
            psi = unname(seg$psi[, "Est."]), psi_se = unname(seg$psi[, "St.Err"]),
            slopes = unname(slope(seg)$ln_mg[, "Est."]), n = nrow(d),
            davies_p = unname(dt$p.value), davies_best = unname(dt$statistic),
            davies_points = unname(dt$process[, 1]), davies_z = unname(dt$process[, 2]))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "out.json")
