"""Registers memorability data sets besides LaMem (MemCat, FIGRIM, SUN memorability, THINGS memorability, your own
CSV) and their benchmarks: the lamem-pls protocol on each, and transfer from LaMem (imports nothing heavy)."""
from memscore import hookimpl

_DATA = "memscore_plugins.benchmarks.memsets.data"
_BENCH = "memscore_plugins.benchmarks.memsets.benchmark"
_MORE = "memscore_plugins.benchmarks.memsets.more_benchmarks"
_SETS = "memscore_plugins.benchmarks.memsets"


@hookimpl
def register_datasets(register):
    register("memcat", f"{_DATA}:MemCat",
             description="MemCat (Goetschalckx & Wagemans 2019): 10,000 images in 5 categories; 5 seeded splits "
                         "stratified by category", tags=["memorability"])
    register("figrim", f"{_SETS}.figrim:Figrim",
             description="FIGRIM (Bylinskii et al. 2015): 1,754 target scenes in 21 categories, scores from "
                         "image_data_targets.mat (HR by default); 5 seeded splits stratified by category",
             tags=["memorability"])
    register("sun-memorability", f"{_SETS}.sun:SunMemorability",
             description="SUN memorability (Isola et al. 2011): 2,222 scenes in AMNet's LaMem-format copy; 25 "
                         "train/test splits", tags=["memorability"])
    register("things-memorability", f"{_SETS}.things:ThingsMemorability",
             description="THINGS memorability (Kramer et al. 2023): 26,107 object images, "
                         "THINGS_Memorability_Scores.csv (cr); 5 seeded splits grouped by concept",
             tags=["memorability"])
    register("memorability-csv", f"{_DATA}:MemorabilityCSV",
             description="your own memorability set: scores.csv (image,score[,split][,group]) and images/",
             tags=["memorability"])


@hookimpl
def register_benchmarks(register):
    register("memcat-pls", f"{_BENCH}:MemcatPLS", version="1", tags=["memorability", "memcat"],
             description="every layer: the lamem-pls protocol on MemCat's seeded splits (PLS-25, Spearman on "
                         "test_k, mean over 5 splits)")
    register("figrim-pls", f"{_MORE}:FigrimPLS", version="1", tags=["memorability", "figrim"],
             description="every layer: the lamem-pls protocol on FIGRIM's seeded splits (PLS-25, Spearman on "
                         "test_k, mean over 5 splits)")
    register("sun-memorability-pls", f"{_MORE}:SunPLS", version="1", tags=["memorability", "sun"],
             description="every layer: the lamem-pls protocol on SUN memorability's 25 official train/test splits")
    register("things-memorability-pls", f"{_MORE}:ThingsPLS", version="1", tags=["memorability", "things"],
             description="every layer: the lamem-pls protocol on THINGS memorability's seeded splits, grouped by "
                         "concept (PLS-25, Spearman on test_k, mean over 5 splits)")
    register("memorability-csv-pls", f"{_BENCH}:CsvPLS", version="1", tags=["memorability"],
             description="every layer: the lamem-pls protocol on your own CSV set (its split column or 5 seeded "
                         "splits)")
    register("lamem-to-memcat", f"{_BENCH}:LamemToMemcat", version="1", tags=["memorability", "transfer", "memcat"],
             description="every layer: readout fitted on LaMem train_k, layer chosen on LaMem val_k, Spearman on "
                         "all of MemCat; mean over splits")
    register("lamem-to-figrim", f"{_MORE}:LamemToFigrim", version="1", tags=["memorability", "transfer", "figrim"],
             description="every layer: readout fitted on LaMem train_k, layer chosen on LaMem val_k, Spearman on "
                         "all of FIGRIM's scored targets; mean over splits")
    register("lamem-to-things", f"{_MORE}:LamemToThings", version="1",
             tags=["memorability", "transfer", "things"],
             description="every layer: readout fitted on LaMem train_k, layer chosen on LaMem val_k, Spearman on "
                         "all of THINGS memorability's scored images; mean over splits")
    register("lamem-to-csv", f"{_BENCH}:LamemToCsv", version="1", tags=["memorability", "transfer"],
             description="every layer: readout fitted on LaMem train_k, layer chosen on LaMem val_k, Spearman on "
                         "your own CSV set; mean over splits")
