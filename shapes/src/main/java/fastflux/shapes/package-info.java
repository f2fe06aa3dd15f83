/**
 * The synthetic "Shapes" world that stands in for FLUX's image domain: a 32x32 renderer, the
 * GenEval-style prompt grammar, a word tokenizer, a deterministic judge, an FD metric and PNG output.
 * Pure Java, no native code.
 */
package fastflux.shapes;
