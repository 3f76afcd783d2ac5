"""Dense-prediction evaluation parts shared by `saip eval pose` and `saip eval parsing`."""
