"""The deploy rehearsal: the packaged stack, deployed as the README says, on an independent AWS emulator."""
