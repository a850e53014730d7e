// Backends, the hairpin daemon core and the unft twin.
import LibFlowTable
