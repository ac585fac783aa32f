"""Registers memorability data sets besides LaMem (MemCat, your own CSV) and their benchmarks: the
lamem-pls protocol on each, and transfer from LaMem (imports nothing heavy)."""
from memscore import hookimpl

_DATA = "memscore_plugins.benchmarks.memsets.data"
_BENCH = "memscore_plugins.benchmarks.memsets.benchmark"


@hookimpl
def register_datasets(register):
    register("memcat", f"{_DATA}:MemCat",
             description="MemCat (Goetschalckx & Wagemans 2019): 10,000 images in 5 categories; 5 seeded splits "
                         "stratified by category", tags=["memorability"])
    register("memorability-csv", f"{_DATA}:MemorabilityCSV",
             description="your own memorability set: scores.csv (image,score[,split][,group]) and images/",
             tags=["memorability"])


@hookimpl
def register_benchmarks(register):
    register("memcat-pls", f"{_BENCH}:MemcatPLS", version="1", tags=["memorability", "memcat"],
             description="every layer: the lamem-pls protocol on MemCat's seeded splits (PLS-25, Spearman on "
                         "test_k, mean over 5 splits)")
    register("memorability-csv-pls", f"{_BENCH}:CsvPLS", version="1", tags=["memorability"],
             description="every layer: the lamem-pls protocol on your own CSV set (its split column or 5 seeded "
                         "splits)")
    register("lamem-to-memcat", f"{_BENCH}:LamemToMemcat", version="1", tags=["memorability", "transfer", "memcat"],
             description="every layer: readout fitted on LaMem train_k, layer chosen on LaMem val_k, Spearman on "
                         "all of MemCat; mean over splits")
    register("lamem-to-csv", f"{_BENCH}:LamemToCsv", version="1", tags=["memorability", "transfer"],
             description="every layer: readout fitted on LaMem train_k, layer chosen on LaMem val_k, Spearman on "
                         "your own CSV set; mean over splits")
