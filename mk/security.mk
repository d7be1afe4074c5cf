# The trust boundary, attacked (docs/threat-model.md): every red-team finding as a scripted run
# against a locked virtual board, the tamper classes, and a protocol fuzz campaign.
#   make security-report [SECURITY_FUZZ=100000] [SECURITY_REPEATS=3] [SECURITY_TAMPER=2000]
#                        [SECURITY_OUT=out/security/report.txt]
SECURITY_FUZZ ?= 100000
SECURITY_REPEATS ?= 3
SECURITY_TAMPER ?= 2000
SECURITY_OUT ?= out/security/report.txt

.PHONY: security-report
security-report: $(STAMP)
	nice -n 10 $(BIN)/python -m host_tools.security.report --fuzz $(SECURITY_FUZZ) \
	  --repeats $(SECURITY_REPEATS) --tamper-trials $(SECURITY_TAMPER) --out $(SECURITY_OUT)
