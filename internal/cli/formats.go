package cli

import (
	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/auditlog/format/aks"
	"github.com/auditq/auditq/auditlog/format/eks"
	"github.com/auditq/auditq/auditlog/format/gke"
	"github.com/auditq/auditq/auditlog/format/legacy"
	"github.com/auditq/auditq/auditlog/format/loki"
	"github.com/auditq/auditq/auditlog/format/openshift"
)

// formats are the export shapes the command reads besides kube-apiserver's
// own lines, recognised by content in this order (docs/formats.md lists
// them with the commands that produce them).
var formats = []auditlog.Format{
	eks.Format, eks.Lambda, eks.Export, eks.InsightsCSV,
	aks.Format,
	gke.Format, gke.YAML,
	loki.Format,
	openshift.Format,
	legacy.Format,
}
