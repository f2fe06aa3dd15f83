/**
 * The export: a pruned FLUX.1 transformer written in the layout its base came in. {@link
 * fastflux.pipeline.export.FluxExport#write} is the one entry point; {@link fastflux.pipeline.export.ExportOptions}
 * says how (copy or link the other components, the largest shard), and {@link fastflux.pipeline.export.ModelCard}
 * writes the export's README.md, again once the job's report has its figures. The format is documented for other
 * runtimes in docs/export-format.md.
 */
package fastflux.pipeline.export;
